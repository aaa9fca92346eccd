"""Write the API's documents from the project file: ``python -m steps.api_docs``.

Writes ``openapi.yaml`` and ``datasets/sample_request.json`` beside the project file, from its
columns, label words and limits (``heartml.views.api_docs``); run it after editing the file.
``--check`` writes nothing and exits 1 naming the documents that are stale.
"""

from __future__ import annotations

import argparse
import logging

from heartml import config, project
from heartml.errors import ConfigError
from heartml.views import api_docs
from steps._cli import run

log = logging.getLogger("steps.api_docs")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, "API_DOCS_CHECK")
    args = parser.parse_args(argv)

    def body() -> None:
        check = config.resolve(args, "API_DOCS_CHECK")
        changed = api_docs.write(project.current().path.parent, check=check)
        if check and changed:
            stale = ", ".join(path.name for path in changed)
            raise ConfigError(f"stale, not what project.toml gives: {stale} (run make api-docs)")
        for path in changed:
            log.info("wrote %s", path)
        log.info("the API documents follow the project file")

    return run("api_docs", body)


if __name__ == "__main__":
    raise SystemExit(main())
