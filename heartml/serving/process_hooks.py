"""What runs as the serving process starts and stops, registered by whoever needs it.

The bounded worker runs the start hooks in gunicorn's worker before it accepts a
connection (so what they make, such as the served model, is made in the process that
serves and is never forked again), and the shutdown hooks after its last request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger("heartml.server")  # the worker's name: its log queries keep working

_start_hooks: list[Callable[[], object]] = []
_shutdown_hooks: list[Callable[[], None]] = []


def at_worker_start(hook: Callable[[], object]) -> None:
    """Run ``hook`` in each worker as it starts, before it accepts a connection."""
    _start_hooks.append(hook)


def at_shutdown(hook: Callable[[], None]) -> None:
    """Run ``hook`` once when the serving process stops, after its last request."""
    _shutdown_hooks.append(hook)


def run_shutdown_hooks() -> None:
    """Run and forget every hook; one that fails is logged and the rest still run."""
    while _shutdown_hooks:
        hook = _shutdown_hooks.pop(0)
        try:
            hook()
        except Exception as exc:  # a hook's failure must not lose the others
            log.error("shutdown hook failed: %s", type(exc).__name__)


def start_hooks() -> list[Callable[[], object]]:
    """The start hooks, in the order they were registered."""
    return list(_start_hooks)
