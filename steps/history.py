"""List every archived version, marking the live one: ``python -m steps.history``.

Reads only metrics files, never a model. Use it to pick a ``steps.rollback --to``.
"""

from __future__ import annotations

import argparse

from heartml import config
from heartml.store.backends import open_store
from heartml.views.version_list import version_list
from steps._cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    args = parser.parse_args(argv)
    return run("history", lambda: print(version_list(open_store(config.store_uri(args.store)))))


if __name__ == "__main__":
    raise SystemExit(main())
