"""What the served function records about its traffic: counts per bin, never a value.

Each serving process keeps one window in memory: for every feature, how many records
fell in each bin (fixed by the live model's training data: about ten quantile bins for
a measurement, the codes for a coded feature, plus ``missing``, ``imputed`` and
``out_of_range``), a histogram of the probabilities it answered, requests, records,
4xx/5xx per field, and a latency histogram. The window is written as one Cloud Logging
JSON line every N requests or T seconds, whichever comes first (checked on the request
path: no thread runs while the CPU is throttled between requests), and once at
shutdown. The line carries bin names and counts only: no value a patient sent, and not
even the bin edges (they are training quantiles; the reader takes them from the model).

Private by construction, with one k (``MONITOR_MIN_BIN_COUNT``, records): a window of
fewer than k records is never written with its bins. While the process lives it is
carried into the next window; at shutdown it is written as counts only (requests,
records, and 4xx/5xx per field name), so every record is accounted for and none is
described. Start and end are
hours, not seconds, and each window names the revision that served it (``K_REVISION``
on Cloud Run) and its place in its process's sequence, so no two windows are one.
"""

from __future__ import annotations

import bisect
import json
import os
import re
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

from heartml.contract import Contract
from heartml.serving.traffic_bins import IMPUTED, MISSING, OUT_OF_RANGE, PROBABILITY_BINS

FORMAT = "heartml-monitoring/2"
# Windows written before the format above: read as before (their times are to the second
# and they may hold fewer than k records, so readers show them only through the k rule).
FORMAT_V1 = "heartml-monitoring/1"
FORMATS = (FORMAT, FORMAT_V1)
# What a window says served it when not on Cloud Run (which sets K_REVISION).
LOCAL_REVISION = "local"
# Upper edges of the latency histogram, milliseconds; the last bin is everything slower.
LATENCY_EDGES_MS: tuple[float, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
# Error fields that may be counted or logged by name, beside the served model's features;
# anything else (an unknown key is the caller's own text) is "other".
KNOWN_ERROR_FIELDS = frozenset(
    {"body", "instances", "parameters", "parameters.explain", "explain",
     "Content-Type", "method", "path", "model", "record", "predictions"}
)  # fmt: skip
_BATCH_PREFIX = re.compile(r"^instances\[\d+\]\.")


def known_field(field: str | None, features: Collection[str] = ()) -> str | None:
    """The request field an error names, if it is one of ours; None for a caller's own key.

    Ours are the protocol's fields and ``features``, the served model's.

    ``instances[3].<feature>`` is ``<feature>``: the window counts per feature, not per position.
    """
    if field is None:
        return None
    name = _BATCH_PREFIX.sub("", field, count=1)
    return name if name in KNOWN_ERROR_FIELDS or name in features else None


def revision() -> str:
    """The serving revision: Cloud Run's ``K_REVISION``, else ``local``."""
    return os.environ.get("K_REVISION") or LOCAL_REVISION


def floor_hour(stamp: datetime) -> str:
    """A window's start or end as written: the hour, never the second."""
    return stamp.replace(minute=0, second=0, microsecond=0).isoformat().replace("+00:00", "Z")


class Monitor:
    """One instance's window of counts for the version it serves, emitted as a log line."""

    def __init__(
        self,
        run_id: str | None,
        bins: dict[str, dict[str, Any]],
        *,
        contract: Contract,
        every_requests: int,
        every_seconds: float,
        min_records: int,
        emit: Callable[[dict[str, Any]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        serving_revision: str | None = None,
    ) -> None:
        self.run_id = run_id
        self.revision = serving_revision or revision()
        self.every_requests = max(1, every_requests)
        self.every_seconds = every_seconds
        self.min_records = max(1, min_records)
        self._emit = emit or write_line
        self._clock = clock
        self._lock = threading.Lock()
        # Per feature (in the served model's order): how to bin a value, read once here.
        self._names = contract.names
        self._known = frozenset(contract.names)
        self._binners = [
            self._binner(spec.unknown_code, bins.get(spec.name) or {}) for spec in contract.features
        ]
        self._new_process()
        # main.py makes the monitor in gunicorn's master, which forks the worker that
        # serves: the worker is another instance, with its own id and an empty window.
        # (Weakly: a fork hook cannot be removed, and must not keep a monitor alive.)
        renew = weakref.WeakMethod(self._new_process)
        os.register_at_fork(after_in_child=lambda: (method := renew()) and method())

    def _new_process(self) -> None:
        self.instance = uuid.uuid4().hex[:12]
        self._sequence = 0
        self._lock = threading.Lock()
        self._reset()

    @staticmethod
    def _binner(unknown: int | None, spec: dict[str, Any]) -> Callable[[float], str]:
        if "codes" in spec:
            known = {float(c): f"{float(c):g}" for c in spec["codes"]}
            return lambda v: IMPUTED if v == unknown else known.get(v, OUT_OF_RANGE)
        edges = list(spec.get("edges") or [])
        low, high = spec.get("min", float("-inf")), spec.get("max", float("inf"))
        labels = [f"q{i}" for i in range(len(edges) + 1)]
        return lambda v: (
            OUT_OF_RANGE if v < low or v > high else labels[bisect.bisect_right(edges, v)]
        )

    def _reset(self) -> None:
        self._started_wall = datetime.now(UTC)
        self._started = self._clock()
        self._features: list[dict[str, int]] = [{} for _ in self._names]
        self._pairs = list(zip(self._features, self._binners, strict=True))
        self._probability = [0] * PROBABILITY_BINS
        self._latency = [0] * (len(LATENCY_EDGES_MS) + 1)
        self._requests = 0
        self._records = 0
        self._errors: dict[str, dict[str, int]] = {"4xx": {}, "5xx": {}}

    def record(
        self,
        status: int,
        latency_s: float,
        error_field: str | None = None,
        records: list[list[float | None]] | None = None,
        probabilities: list[float] | None = None,
    ) -> None:
        """Count one request; emit the window when it is due. Never raises into serving."""
        due = None
        with self._lock:
            self._requests += 1
            latency_ms = latency_s * 1000
            self._latency[bisect.bisect_left(LATENCY_EDGES_MS, latency_ms)] += 1
            if status >= 400:
                kind = "5xx" if status >= 500 else "4xx"
                name = known_field(error_field, self._known) or "other"
                self._errors[kind][name] = self._errors[kind].get(name, 0) + 1
            if records:
                self._records += len(records)
                pairs = self._pairs
                for row in records:
                    for (counts, binner), value in zip(pairs, row):  # noqa: B905 (hot path)
                        label = MISSING if value is None else binner(value)
                        counts[label] = counts.get(label, 0) + 1
            for p in probabilities or ():
                self._probability[min(int(p * PROBABILITY_BINS), PROBABILITY_BINS - 1)] += 1
            if self._records >= self.min_records and (
                self._requests >= self.every_requests
                or self._clock() - self._started >= self.every_seconds
            ):
                due = self._take("due")
        if due is not None:
            self._emit(due)

    def flush(self, reason: str) -> dict[str, Any] | None:
        """Emit the window now (at shutdown): whole from k records on, else as counts only.

        Nothing is emitted for a window that saw no request.
        """
        with self._lock:
            window = self._take(reason) if self._requests else None
        if window is not None:
            self._emit(window)
        return window

    def _take(self, reason: str) -> dict[str, Any]:
        """The window as emitted, and a fresh one in its place (called under the lock)."""
        self._sequence += 1
        window: dict[str, Any] = {
            "format": FORMAT,
            "run_id": self.run_id,
            "revision": self.revision,
            "instance": self.instance,
            "sequence": self._sequence,
            "start": floor_hour(self._started_wall),
            "end": floor_hour(datetime.now(UTC)),
            "reason": reason,
            "requests": self._requests,
            "records": self._records,
            # Our own field names with counts: nothing a caller sent, kept even under k so
            # a process that answered only bad requests still shows its 4xx.
            "errors": self._errors,
        }
        if self._records < self.min_records:
            window["count_only"] = True
        else:
            window.update(
                latency_ms={
                    "edges": list(LATENCY_EDGES_MS),
                    "counts": self._latency,
                    **latency_quantiles(self._latency),
                },
                probability=self._probability,
                features=dict(zip(self._names, self._features, strict=True)),
            )
        self._reset()
        return window


def latency_quantiles(counts: list[int]) -> dict[str, float | None]:
    """p50, p90 and p99 as the upper edge of the histogram bin that holds each (ms)."""
    total = sum(counts)
    result: dict[str, float | None] = {}
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        if not total:
            result[name] = None
            continue
        running, target = 0, q * total
        for i, n in enumerate(counts):
            running += n
            if running >= target:
                result[name] = LATENCY_EDGES_MS[i] if i < len(LATENCY_EDGES_MS) else None
                break
    return result


def log_line(window: dict[str, Any]) -> str:
    """The window as one Cloud Logging JSON line, as the function writes it."""
    entry = {
        "severity": "INFO",
        "message": f"monitoring window: {window['requests']} requests, {window['records']} records"
        + (" (counts only: fewer than k)" if window.get("count_only") else ""),
        "logger": "heartml.monitoring",
        "model_run_id": window["run_id"],
        "monitoring": window,
    }
    return json.dumps(entry, separators=(",", ":"))


def write_line(window: dict[str, Any]) -> None:
    """One Cloud Logging JSON line on stdout, written whole (as ``logs.log_request``)."""
    line = (log_line(window) + "\n").encode()
    # A window is about 2 KB, under a pipe's atomic-write size, so one write lands whole
    # beside the request lines; the loop only finishes a write the kernel cut short.
    while line:
        line = line[os.write(sys.stdout.fileno(), line) :]
