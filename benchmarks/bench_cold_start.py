"""What the integrity check costs a cold start: today's loading beside an older commit's.

A function instance's cold start is the import of ``main.py``: functions-framework's
imports, then the model loaded from the store. Here a fresh interpreter imports
``main.py`` with ``PIPELINE_STORE`` set (and, for the current code, the revision's pin),
for the current tree and for ``--baseline REV`` (extracted with ``git archive``), the two
interleaved run by run so that the machine's drift hits both alike. The store is a local
folder with one promoted version trained by the current code (the file format did not
change), so the figures are the loading code's, not a network's.

In one warm interpreter it also times the loading call alone (old ``load_model(store)``
against today's ``load_from_store(store, pin)``), and the check's two parts on the
model file's bytes: sha256, and reading the outer file with the no-globals unpickler
against ``joblib.load``.

Reproduce::

    .venv/bin/python benchmarks/bench_cold_start.py --baseline 1f3b9ed --repeats 10
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.bench_model import median_ms
from benchmarks.bench_pipeline import _describe, checkout

# Import, then the served model loaded: at import before the serving object (a baseline's
# main.MODEL), in the serving process since (main.PREDICTIONS, made on first use here).
COLD_START = (
    "import time; t = time.perf_counter(); import main; "
    "served = main.PREDICTIONS.get() if hasattr(main, 'PREDICTIONS') else main; "
    "model = getattr(served, 'model', None) or getattr(served, 'MODEL', None); "
    "assert model is not None; "
    "print((time.perf_counter() - t) * 1000)"
)


def publish_one_version(store_dir: Path) -> tuple[str, str]:
    """Train on the shipped data and promote it; return (run id, model sha256)."""
    from heartml.model import training
    from heartml.store import registry
    from heartml.store.backends import open_store

    model_bytes, metrics, _ = training.train_version(
        REPO / "datasets" / "default.csv",
        run_id="bench-1",
        git_commit=None,
        params=training.TrainParams(),
    )
    metrics["gate"] = {"passed": True, "reasons": []}
    registry.publish(open_store(store_dir), model_bytes, metrics)
    return metrics["run_id"], metrics["model_sha256"]


def cold_start_ms(code: Path, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", COLD_START],
        cwd=code,
        env={**os.environ, "PYTHONPATH": str(code), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline", required=True, help="the older commit to compare with")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        store_dir = scratch / "store"
        run_id, sha256 = publish_one_version(store_dir)
        baseline = checkout(args.baseline, scratch / "baseline")
        store = {"PIPELINE_STORE": str(store_dir)}
        pin = {"SERVED_RUN_ID": run_id, "SERVED_MODEL_SHA256": sha256}
        runs: dict[str, list[float]] = {"baseline": [], "current": []}
        for _ in range(args.repeats):
            runs["baseline"].append(cold_start_ms(baseline, store))
            runs["current"].append(cold_start_ms(REPO, {**store, **pin}))

        import joblib

        from heartml.serving import served_model
        from heartml.store.backends import open_store
        from heartml.store.model_file import ModelFile, sha256_bytes

        local = open_store(store_dir)
        data = local.read_bytes("models/latest.joblib")
        pinned = served_model.Pin(run_id, sha256)
        warm = median_ms(lambda: served_model.load_from_store(local, pinned), 200)
        hash_ms = median_ms(lambda: sha256_bytes(data), 2000)
        plain_ms = median_ms(lambda: ModelFile.read(data, "bench"), 2000)
        joblib_ms = median_ms(lambda: joblib.load(io.BytesIO(data)), 2000)

    base, current = statistics.median(runs["baseline"]), statistics.median(runs["current"])
    print(f"cold start: fresh interpreter importing main.py (median of {args.repeats})")
    print(f"  baseline = {_describe(args.baseline)}")
    print(f"  baseline (load latest.joblib, no check):   {base:8.1f} ms")
    print(
        f"  current (pinned, sha256 checked first):    {current:8.1f} ms"
        f"   ratio {current / base:.2f}"
    )
    print("warm interpreter, the load and its check (medians)")
    print(f"  load_from_store(store, pin):               {warm:8.3f} ms")
    print(f"  sha256 of the model file ({len(data):,} bytes):   {hash_ms:8.4f} ms")
    print(f"  outer file, no-globals unpickler:          {plain_ms:8.4f} ms")
    print(f"  outer file, joblib.load (before):          {joblib_ms:8.4f} ms")
    print(
        "reproduce: .venv/bin/python benchmarks/bench_cold_start.py "
        f"--baseline {args.baseline} --repeats {args.repeats}"
    )


if __name__ == "__main__":
    main()
