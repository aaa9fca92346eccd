"""Prove the deploy: the function answers, and serves the version just promoted.

``python -m steps.check_deploy --url URL --expect-run-id RUN_ID --expect-sha256 SHA256`` GETs the
function (with ``FUNCTION_ID_TOKEN`` as a bearer token: the function is private) until
it answers 200 or the time is up, and fails unless its served ``model.run_id`` and
``model.sha256`` are the expected ones. Each call ends by the deadline however slowly
the answer drips; the token is never printed, nor anything in the server's words that
looks like a credential.
"""

from __future__ import annotations

import argparse

from heartml import config
from heartml.ops.deploy_check import check_deploy
from steps._cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("FUNCTION_URL", "SERVED_RUN_ID", "SERVED_MODEL_SHA256"):
        config.add_flag(parser, name)
    config.add_flag(parser, "CHECK_DEPLOY_TIMEOUT_SECONDS")
    args = parser.parse_args(argv)
    return run(
        "check_deploy",
        lambda: check_deploy(
            config.resolve(args, "FUNCTION_URL"),
            config.resolve(args, "SERVED_RUN_ID"),
            config.resolve(args, "SERVED_MODEL_SHA256"),
            config.get("FUNCTION_ID_TOKEN"),
            config.resolve(args, "CHECK_DEPLOY_TIMEOUT_SECONDS"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
