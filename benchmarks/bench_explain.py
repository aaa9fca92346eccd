"""What an explanation costs: one record answered with and without one, side by side.

In one interpreter, the tutorial's record is parsed and answered by the fast path,
plain and explained, the two timed in alternating samples of 500 calls so the
machine's drift hits both alike. With ``--baseline REV`` a child interpreter runs the
plain answer on that commit's code (extracted with ``git archive``), alternating with
today's, to show an unexplained request costs no more than before explanations.

Reproduce::

    .venv/bin/python benchmarks/bench_explain.py --baseline 6a48bf2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_pipeline import _describe, checkout

CALLS, SAMPLES = 500, 41

# Runs in a child on either tree: the model file is the same format in both.
# Each child prints the median of 21 batches: one batch of 500 calls (about 15 ms) is at
# the mercy of a single scheduler hiccup, and swung the ratio between 1.04 and 1.38.
PLAIN = """
import json, statistics, sys, time
from heartml import serving
from heartml.features import CONTRACT
model = serving.model_from_bytes(open(sys.argv[1], "rb").read(), "bench", verified=True)
record = json.loads(open(sys.argv[2]).read())
for _ in range(200):
    serving.predict(model, serving.parse_request(record))
batches = []
for _ in range(21):
    t = time.perf_counter()
    for _ in range({calls}):
        serving.predict(model, serving.parse_request(record))
    batches.append((time.perf_counter() - t) / {calls} * 1e6)
print(statistics.median(batches))
"""


def per_call_us(call, calls: int = CALLS) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        call()
    return (time.perf_counter() - started) / calls * 1e6


def child_us(code: Path, model: Path, record: Path) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PLAIN.format(calls=CALLS), str(model), str(record)],
        cwd=code, env={**os.environ, "PYTHONPATH": str(code)},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", help="an older commit, for the plain answer's cost")
    parser.add_argument("--repeats", type=int, default=9, help="child runs per tree")
    args = parser.parse_args()

    from heartml.model import training
    from heartml.serving import api, served_model
    from tests.helpers import SAMPLE_RECORD

    model_bytes, _, _ = training.train_version(
        REPO / "datasets" / "default.csv", run_id="bench", git_commit=None,
        params=training.TrainParams(),
    )  # fmt: skip
    model = served_model.model_from_bytes(model_bytes, "bench", verified=True)

    def plain() -> None:
        api.predict(model, api.parse_request(SAMPLE_RECORD, model.contract))

    def explained() -> None:
        api.predict(model, api.parse_request(SAMPLE_RECORD, model.contract, explain=True))

    for call in (plain, explained):  # warm up
        per_call_us(call, 200)
    timings: dict[str, list[float]] = {"plain": [], "explained": []}
    for _ in range(SAMPLES):
        timings["plain"].append(per_call_us(plain))
        timings["explained"].append(per_call_us(explained))
    plain_us, explained_us = (statistics.median(timings[k]) for k in ("plain", "explained"))
    print(f"one record through parse_request + predict, fast path, median of {SAMPLES} x {CALLS}")
    print(f"  plain      {plain_us:7.1f} us")
    print(f"  explained  {explained_us:7.1f} us   ({explained_us / plain_us:.2f}x plain)")

    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            scratch = Path(tmp)
            old = checkout(args.baseline, scratch / "baseline")
            (scratch / "model.joblib").write_bytes(model_bytes)
            (scratch / "record.json").write_text(json.dumps(SAMPLE_RECORD))
            runs: dict[str, list[float]] = {"today": [], "baseline": []}
            for _ in range(args.repeats):
                for name, code in (("today", REPO), ("baseline", old)):
                    runs[name].append(
                        child_us(code, scratch / "model.joblib", scratch / "record.json")
                    )
        today, before = statistics.median(runs["today"]), statistics.median(runs["baseline"])
        print(
            f"plain answer, fresh interpreters (each the median of 21 x {CALLS}), "
            f"median of {args.repeats}, alternating:"
        )
        print(f"  today      {today:7.1f} us")
        ratio = today / before
        print(f"  {args.baseline:<10} {before:7.1f} us   (today {ratio:.2f}x)")
        print(f"  baseline: {_describe(args.baseline)}")

    command = "benchmarks/bench_explain.py" + (
        f" --baseline {args.baseline}" if args.baseline else ""
    )
    print(f"reproduce: .venv/bin/python {command}")


if __name__ == "__main__":
    main()
