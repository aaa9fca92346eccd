"""Structured logs in Cloud Logging's JSON format: one line per entry on stdout.

Cloud Functions (2nd gen) and Cloud Run turn such lines into structured entries:
``severity`` sets the level, ``message`` the summary, ``httpRequest`` the request
fields. Nothing here ever carries a patient's values.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any


class CloudLoggingFormatter(logging.Formatter):
    """Format a record as one JSON object, with any ``extra={"fields": {...}}`` merged in."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, separators=(",", ":"), default=str)


class OneLineFormatter(logging.Formatter):
    """A plain log line whose line breaks are escaped, for the steps' logs on a runner.

    GitHub reads a line of a job's log that starts with ``::`` as a workflow command
    (an annotation, a mask, an output). Text from the data or the store may hold a line
    break followed by such a command; escaped here, every record stays one line that
    starts with its timestamp, so nothing it quotes can start a command.
    """

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).replace("\r", "\\r").replace("\n", "\\n")


def quote(value: Any, limit: int = 60) -> str:
    """Show a value from the data or the store in a message: quoted, escaped, cut short."""
    if isinstance(value, str):
        return ascii(value[:limit]) + ("…" if len(value) > limit else "")
    return ascii(value)[:limit]


def configure(level: int = logging.INFO) -> None:
    """Send every log record to stdout as a Cloud Logging JSON line."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(CloudLoggingFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def log_request(
    message: str,
    method: str,
    status: int,
    latency_s: float,
    request_size: int | None,
    run_id: str | None,
) -> None:
    """Write one request's log line (no body, no values) straight to stdout.

    This bypasses the logging module on the hot path: one ``os.write`` of a line
    shorter than a pipe's atomic-write size needs no lock and no flush, and costs a
    fraction of a LogRecord, a formatter and a handler lock per request.
    """
    entry = {
        "severity": "WARNING" if status >= 400 else "INFO",
        "message": message,
        "logger": "main.requests",
        "httpRequest": {
            "requestMethod": method,
            "status": status,
            "latency": f"{latency_s:.6f}s",
            "requestSize": str(request_size or 0),
        },
        "model_run_id": run_id,
    }
    os.write(sys.stdout.fileno(), (json.dumps(entry, separators=(",", ":")) + "\n").encode())
