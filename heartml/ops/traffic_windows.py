"""Read the served function's traffic windows back and compare them with training.

On Google Cloud a Cloud Logging sink routes the function's window lines to a separate
monitoring bucket. Cloud Logging writes them in hourly batches under
``<LOG_ID>/YYYY/MM/DD/HH:00:00_HH:59:59_S<n>.json`` (shards ``S<n>`` or ``A<n>``), one
LogEntry JSON object per line with the line itself under ``jsonPayload``; the first
files may arrive hours late, and an entry may be written twice (dropped here by
``insertId``). Locally, ``collect`` writes the function's stdout in that same layout, so
one reader serves both.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from heartml.errors import ObjectExists, ObjectNotFound
from heartml.features import FEATURES
from heartml.run_ids import RUN_ID_PATTERN
from heartml.serving import traffic_bins, traffic_monitor
from heartml.store.backends import Store, parse_stored

# What Cloud Functions (2nd gen, on Cloud Run) logs a function's stdout as.
LOG_ID = "run.googleapis.com/stdout"
SINK_FILE = re.compile(
    r"^(?P<log>.+)/(?P<y>\d{4})/(?P<m>\d{2})/(?P<d>\d{2})/"
    r"(?P<h>\d{2}):00:00_(?P=h):59:59_[SA]\d+\.json$"
)


def sink_key(hour: datetime, shard: int = 0, log_id: str = LOG_ID) -> str:
    """The object a sink writes an hour's entries to (Cloud Logging's documented layout)."""
    return f"{log_id}/{hour:%Y/%m/%d}/{hour:%H}:00:00_{hour:%H}:59:59_S{shard}.json"


def hour_of(key: str) -> datetime | None:
    """The hour an object of the layout holds, or None for any other object."""
    match = SINK_FILE.match(key)
    if not match:
        return None
    y, m, d, h = (int(match[k]) for k in ("y", "m", "d", "h"))
    return datetime(y, m, d, h, tzinfo=UTC)


def collect(lines: Iterable[str], store: Store, log_id: str = LOG_ID) -> int:
    """Write the window lines among a function's stdout lines as a sink would; return how many.

    Only lines whose ``logger`` is ``heartml.monitoring`` are kept (the sink's filter).
    Each becomes a LogEntry with the line under ``jsonPayload``, an ``insertId`` made
    from its content (unique per emitted window, which names its instance and place in
    sequence; the same line collected twice is one entry), and the window's end as
    ``timestamp``. Each batch goes to a new object of a random shard number, created
    exclusively, so collectors running at once never overwrite one another.
    """
    by_hour: dict[datetime, list[str]] = {}
    for line in lines:
        try:
            payload = json.loads(line)
        except ValueError:
            continue
        if not isinstance(payload, dict) or payload.get("logger") != "heartml.monitoring":
            continue
        end = str((payload.get("monitoring") or {}).get("end") or "")
        try:
            stamp = datetime.fromisoformat(end.replace("Z", "+00:00"))
        except ValueError:
            continue
        entry = {
            "insertId": hashlib.sha256(line.strip().encode()).hexdigest()[:20],
            "logName": f"projects/local/logs/{log_id.replace('/', '%2F')}",
            "timestamp": end,
            "jsonPayload": payload,
        }
        hour = stamp.replace(minute=0, second=0, microsecond=0)
        by_hour.setdefault(hour, []).append(json.dumps(entry, separators=(",", ":")))
    for hour, entries in by_hour.items():
        data = ("\n".join(entries) + "\n").encode()
        while True:
            try:
                key = sink_key(hour, secrets.randbits(48), log_id)
                store.write_bytes(key, data, exclusive=True)
                break
            except ObjectExists:
                continue  # another collector drew the same shard: draw again
    return sum(len(entries) for entries in by_hour.values())


def read_windows(
    store: Store, since: datetime | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every window in the sink's files from ``since`` on, duplicates dropped; and problems.

    A file that is not JSON lines of LogEntries is skipped and named (one bad line spoils
    its file: a sink writes whole files); other objects in the bucket are ignored.
    """
    windows: list[dict[str, Any]] = []
    problems: list[str] = []
    seen: set[str] = set()
    for key in store.list_keys():
        hour = hour_of(key)
        if hour is None or (since is not None and hour < since.replace(minute=0, second=0)):
            continue
        try:
            entries = [parse_stored(line) for line in store.read_bytes(key).splitlines() if line]
        except (ValueError, UnicodeDecodeError):
            problems.append(f"{store.url(key)} is not JSON lines: skipped")
            continue
        except ObjectNotFound:
            continue
        for entry in entries:
            payload = entry.get("jsonPayload") if isinstance(entry, dict) else None
            window = payload.get("monitoring") if isinstance(payload, dict) else None
            if not isinstance(window, dict) or window.get("format") not in traffic_monitor.FORMATS:
                continue
            insert_id = str(entry.get("insertId") or "")
            if insert_id and insert_id in seen:
                continue
            seen.add(insert_id)
            problem = window_problem(window)
            if problem is not None:
                problems.append(f"{store.url(key)} holds a malformed window ({problem}): skipped")
                continue
            windows.append(window)
    return windows, problems


# No window's count comes near this (a trillion records): a larger one is planted, and
# summing it over a month of windows would overflow the 64-bit integers statistics use.
MAX_WINDOW_COUNT = 2**40


def _count(value: Any) -> bool:
    """A whole count a window could hold (``type``, not ``isinstance``: no booleans)."""
    return type(value) is int and 0 <= value <= MAX_WINDOW_COUNT


def _counts(value: Any) -> bool:
    """Bin names to whole counts a window could hold."""
    return (
        isinstance(value, dict)
        and len(value) <= 1000
        and all(type(k) is str and len(k) <= 64 for k in value)
        and all(_count(n) for n in value.values())
    )


def well_formed(window: dict[str, Any]) -> bool:
    """A window as the function writes it (``window_problem`` says which field is not)."""
    return window_problem(window) is None


def window_problem(window: dict[str, Any]) -> str | None:
    """The first field of a stored window that no function could have written, or None.

    The bucket's text reaches reports and summaries, so a run id (and a revision) must be
    one a version could have (letters, digits, '.', '_', '-'), and every count a whole
    number no larger than any real window holds. A count-only window (fewer than k
    records) has no bins.
    """
    revision = window.get("revision", traffic_monitor.LOCAL_REVISION)
    for name, value in (("run_id", window.get("run_id")), ("revision", revision)):
        if not isinstance(value, str) or RUN_ID_PATTERN.fullmatch(value) is None:
            return name
    for name in ("requests", "records"):
        if not _count(window.get(name)):
            return name
    for name in ("start", "end"):
        if _time(window.get(name)) is None:
            return name
    errors = window.get("errors", {} if window.get("count_only") is True else None)
    if not isinstance(errors, dict) or not all(_counts(c) for c in errors.values()):
        return "errors"
    count_only = window.get("count_only") is True
    if count_only and "probability" not in window and "features" not in window:
        return None
    # A count-only window has no bins, but whatever it carries is read when windows merge.
    probability = window.get("probability", [] if count_only else None)
    if (
        not isinstance(probability, list)
        or len(probability) > traffic_bins.PROBABILITY_BINS
        or not all(_count(n) for n in probability)
    ):
        return "probability"
    features = window.get("features", {} if count_only else None)
    if not isinstance(features, dict):
        return "features"
    for name, bins in features.items():
        if not _counts(bins):
            return f"features.{name}" if name in FEATURES else "features"
    return None


def _time(value: Any) -> datetime | None:
    """A window's start or end as written ("2026-11-28T08:00:00Z"); None for anything else."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else None


def merge(windows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The windows summed per served version (a version's traffic is never mixed with another's).

    Instances' clocks may disagree: windows are summed, never ordered, so skew moves only
    the reported first and last times. Sums merge again (a merged day is a window to this),
    so a month is summed per day once and the days then added up, not summed twice.
    """
    merged: dict[str, dict[str, Any]] = {}
    for w in windows:
        run_id = str(w.get("run_id"))
        into = merged.setdefault(
            run_id,
            {"run_id": run_id, "windows": 0, "instances": 0, "instance_ids": set(),
             "revisions": set(), "requests": 0, "records": 0, "held_records": 0,
             "first": None, "last": None, "probability": [0] * traffic_bins.PROBABILITY_BINS,
             "features": {name: {} for name in FEATURES}, "errors": {"4xx": {}, "5xx": {}}},
        )  # fmt: skip
        # A sum carries its instances as a set, which no JSON from the bucket can be.
        summed = isinstance(w.get("instance_ids"), set)
        into["windows"] += w["windows"] if summed else 1
        into["instance_ids"] |= w["instance_ids"] if summed else {str(w.get("instance"))}
        into["revisions"] |= (
            w["revisions"] if summed else {str(w.get("revision", traffic_monitor.LOCAL_REVISION))}
        )
        into["requests"] += int(w.get("requests") or 0)
        into["records"] += int(w.get("records") or 0)
        # Records of count-only windows: counted, never binned (fewer than k in the window).
        into["held_records"] += (
            w["held_records"] if summed else int(w.get("records") or 0) * bool(w.get("count_only"))
        )
        for edge, pick, field in (("first", min, "start"), ("last", max, "end")):
            stamp = w[edge] if summed else w.get(field)
            into[edge] = stamp if into[edge] is None else pick(into[edge], stamp)
        for i, n in enumerate((w.get("probability") or [])[: traffic_bins.PROBABILITY_BINS]):
            into["probability"][i] += int(n)
        features = into["features"]
        for name, counts in (w.get("features") or {}).items():
            if name in features and isinstance(counts, dict):
                _add(features[name], counts)
        for kind in ("4xx", "5xx"):
            _add(into["errors"][kind], (w.get("errors") or {}).get(kind) or {})
    for into in merged.values():
        into["instances"] = len(into["instance_ids"])
    return merged


def _add(into: dict[str, int], counts: dict[str, Any]) -> None:
    get = into.get  # the merge's inner loop: millions of additions over a month of windows
    for label, n in counts.items():
        into[label] = get(label, 0) + int(n)


def binned_records(merged: dict[str, Any]) -> int:
    """The records of a sum that were counted per bin (drift is judged on these alone)."""
    return merged["records"] - merged["held_records"]


def psi(live: dict[str, int], reference: dict[str, int]) -> float:
    """Population stability index over the union of bins (a share of 0 counts as 1e-4)."""
    labels = set(live) | set(reference)
    a_total, e_total = sum(live.values()) or 1, sum(reference.values()) or 1
    total = 0.0
    for label in labels:
        a = max(live.get(label, 0) / a_total, 1e-4)
        e = max(reference.get(label, 0) / e_total, 1e-4)
        total += (a - e) * math.log(a / e)
    return total


def chi_squared_p(live: dict[str, int], reference: dict[str, int]) -> float | None:
    """p-value of the chi-squared test that live and training share one distribution."""
    from scipy.stats import chi2_contingency

    labels = sorted(label for label in set(live) | set(reference))
    table = [
        [live.get(label, 0) for label in labels],
        [reference.get(label, 0) for label in labels],
    ]
    if len(labels) < 2 or not sum(table[0]) or not sum(table[1]):
        return None
    return float(chi2_contingency(table).pvalue)


def shown_counts(counts: dict[str, int], k: int) -> dict[str, Any]:
    """Counts as a report may show them: a bin with fewer than ``k`` is shown as ``"<k"``."""
    return {label: (n if n >= k else f"<{k}") for label, n in sorted(counts.items())}


def compare(
    merged: dict[str, Any],
    reference: dict[str, Any],
    *,
    psi_threshold: float,
    p_threshold: float,
    min_records: int,
    min_count: int,
) -> dict[str, Any]:
    """Live traffic of one version against its training data, feature by feature.

    A feature has drifted when its PSI is at least ``psi_threshold`` and the chi-squared
    test agrees (p below ``p_threshold``): with thousands of records the test alone calls
    shifts too small to matter. Fewer than ``min_records`` records are not judged.
    """
    judged = binned_records(merged) >= min_records
    features = {}
    for name in FEATURES:
        live = merged["features"].get(name) or {}
        trained = (reference.get("training_counts") or {}).get(name) or {}
        value, p = psi(live, trained), chi_squared_p(live, trained)
        features[name] = {
            "psi": value,
            "p_value": p,
            "drifted": bool(
                judged and value >= psi_threshold and p is not None and p < p_threshold
            ),
            "live": shown_counts(live, min_count),
            "training_share": {
                label: round(n / (sum(trained.values()) or 1), 4)
                for label, n in sorted(trained.items())
            },
        }
    answered = sum(merged["probability"])
    positive = sum(merged["probability"][traffic_bins.PROBABILITY_BINS // 2 :])
    return {
        "run_id": merged["run_id"],
        "records": merged["records"],
        "held_records": merged["held_records"],
        "requests": merged["requests"],
        "windows": merged["windows"],
        "revisions": sorted(merged["revisions"]),
        "instances": merged["instances"],
        "first": merged["first"],
        "last": merged["last"],
        "judged": judged,
        "drifted": [name for name, f in features.items() if f["drifted"]],
        "features": features,
        "positive_share": positive / answered if answered else None,
        "training_positive_share": (reference.get("answers") or {}).get("positive_share"),
        "probability": shown_counts(dict(enumerate(merged["probability"])), min_count),
        "errors": {kind: shown_counts(c, min_count) for kind, c in merged["errors"].items()},
    }
