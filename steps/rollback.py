"""Re-point ``latest`` at an archived version: ``python -m steps.rollback --to RUN_ID``.

``--previous`` picks the newest version the gate passed that was trained before the
live one. The version must exist and its model must match its metrics' sha256.
Redeploy afterwards so that the function serves it: its run id and model sha256 are the
step's outputs, the pin the workflow's deploy sets (``SERVED_RUN_ID``, ``SERVED_MODEL_SHA256``).
"""

from __future__ import annotations

import argparse
import logging

from heartml import config
from heartml.errors import ConfigError
from heartml.store import registry
from heartml.store.backends import open_store
from steps._cli import run, set_outputs

log = logging.getLogger("steps.rollback")


def rollback_step(store_uri: str, to: str | None, previous: bool, force: bool) -> str:
    """Make the chosen version live; return its run id."""
    if bool(to) == previous:
        raise ConfigError("give exactly one of --to RUN_ID (ROLLBACK_TO) or --previous")
    store = open_store(store_uri)
    promoted = registry.promoted_version(store)
    target = to or registry.previous_version(store)
    metrics = registry.rollback(store, target, force=force)
    set_outputs(run_id=target, model_sha256=metrics["model_sha256"])
    log.info("rolled back: latest is now %s (was %s)", target, promoted[0] if promoted else None)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    config.add_flag(parser, config.STORE_ENV)
    config.add_flag(parser, "ROLLBACK_TO")
    config.add_flag(parser, "ROLLBACK_PREVIOUS")
    config.add_flag(parser, "ROLLBACK_FORCE")
    args = parser.parse_args(argv)
    return run(
        "rollback",
        lambda: rollback_step(
            config.store_uri(args.store),
            config.resolve(args, "ROLLBACK_TO"),
            config.resolve(args, "ROLLBACK_PREVIOUS"),
            config.resolve(args, "ROLLBACK_FORCE"),
        ),
    )


if __name__ == "__main__":
    raise SystemExit(main())
