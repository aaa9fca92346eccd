"""Time the loop's parts in one process on the shipped data: fit, gate, publish, load, predict.

Reproduce with ``make bench`` (or ``.venv/bin/python benchmarks/bench_model.py``).
Every figure is a median over repeats measured in this one run, side by side.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from heartml.data.dataset import read_dataset
from heartml.features import CONTRACT
from heartml.model import (
    gate,
    training,
)
from heartml.serving import api, served_model
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.model_file import sha256_bytes
from tests.helpers import legacy_model

DATASET = REPO / "datasets" / "default.csv"
SAMPLE = {
    "age": 63, "sex": 1, "cp": 3, "trestbps": 145, "chol": 233, "fbs": 1, "restecg": 0,
    "thalach": 150, "exang": 0, "oldpeak": 2.3, "slope": 0, "ca": 0, "thal": 1,
}  # fmt: skip


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket="bench")
    server.start()
    os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{server._api._httpd.server_port}"
    try:
        run(server)
    finally:
        server.stop()


def run(server: object) -> None:
    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)

    frame = read_dataset(DATASET)
    fit_ms = median_ms(lambda: training.train(frame), 15)
    result = training.train(frame)
    params = training.TrainParams()
    # The fit alone, beside the pre-fix pipeline (ca one-hot, one transformer branch fewer).
    from sklearn.base import clone

    train_x, _, train_y, _ = training.split(frame, params)
    pre_fix_pipeline = legacy_model(frame)[1]
    fit_only = {
        "current pipeline": median_ms(lambda: clone(result.pipeline).fit(train_x, train_y), 15),
        "pre-fix pipeline": median_ms(
            lambda: clone(pre_fix_pipeline).fit(train_x, 1 - train_y), 15
        ),
    }

    _, val_x, _, val_y = training.split(frame, params)
    gate_ms = median_ms(
        lambda: gate.judge(
            result.pipeline, val_x, val_y, candidate_run_id="b", champion=result.pipeline
        ),
        15,
    )
    verdict = gate.judge(result.pipeline, val_x, val_y, candidate_run_id="bench").to_dict()

    def artifacts(run_id: str) -> tuple[bytes, dict]:
        model_bytes, metrics = training.build_artifacts(
            result,
            run_id=run_id,
            dataset_sha256=sha256_bytes(DATASET.read_bytes()),
            dataset_rows=len(frame),
            git_commit=None,
            params=params,
        )
        return model_bytes, {**metrics, "gate": verdict}

    with tempfile.TemporaryDirectory() as tmp:
        local = open_store(Path(tmp) / "store")
        gcs = open_store("gs://bench/heart")
        publish = {}
        for name, store in (("local folder", local), ("GCS emulator", gcs)):
            publish[name] = median_ms(
                lambda store=store: registry.publish(store, *artifacts(uuid.uuid4().hex)), 15
            )
        load_ms = median_ms(lambda: served_model.load_from_store(local), 15)
        model = served_model.load_from_store(local)
        record = api.parse_record(SAMPLE, CONTRACT)
        fast_ms = median_ms(
            lambda: api.predict(model, api.ParsedRequest([record], batch=False)), 3000
        )
        # A version archived before the label coding: every answer is turned round.
        pre_fix = served_model.model_from_bytes(legacy_model(frame)[0], "pre-fix", verified=True)
        pre_fix_ms = median_ms(
            lambda: api.predict(pre_fix, api.ParsedRequest([record], batch=False)), 3000
        )
        batch = [api.parse_record(SAMPLE, CONTRACT)] * 1000
        batch_ms = median_ms(lambda: api.predict(model, api.ParsedRequest(batch, batch=True)), 50)
        pre_fix_batch_ms = median_ms(
            lambda: api.predict(pre_fix, api.ParsedRequest(batch, batch=True)), 50
        )
        import pandas as pd

        frame_record = {k: float(v) for k, v in SAMPLE.items()}
        pipeline = model.pipeline
        tutorial_ms = median_ms(
            lambda: pipeline.predict(pd.DataFrame.from_records([frame_record])), 300
        )

    # Cold start as a new function instance sees it: a fresh interpreter loading the model.
    cold = []
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "store")
        registry.publish(store, *artifacts("cold"))
        code = (
            "import time; t=time.perf_counter(); from heartml.serving import served_model; "
            "from heartml.store.backends import open_store; "
            f"served_model.load_from_store(open_store({str(Path(tmp) / 'store')!r})); "
            "print((time.perf_counter()-t)*1000)"
        )
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
            )
            cold.append(float(out.stdout.strip().splitlines()[-1]))

    print("heart-disease pipeline benchmark (medians)")
    print(f"  train(): fit + score, 303 rows:                 {fit_ms:8.2f} ms")
    for name, value in fit_only.items():
        print(f"  fit only, {name + ':':<38} {value:8.2f} ms")
    print(f"  gate: candidate vs champion + behaviour checks:   {gate_ms:8.2f} ms")
    for name, value in publish.items():
        print(f"  model file + publish, {name + ':':<26} {value:8.2f} ms")
    print(f"  load latest.joblib (warm interpreter):          {load_ms:8.2f} ms")
    print(f"  load latest.joblib (fresh interpreter, imports):  {statistics.median(cold):8.2f} ms")
    print(f"  predict one record, tutorial (DataFrame + predict): {tutorial_ms:8.3f} ms")
    print(f"  predict one record, fast path (serving.predict):    {fast_ms:8.4f} ms")
    print(f"  the same, pre-fix version (answer turned round):    {pre_fix_ms:8.4f} ms")
    print(f"  predict 1,000 records, fast path:                   {batch_ms:8.3f} ms")
    print(f"  the same, pre-fix version:                          {pre_fix_batch_ms:8.3f} ms")
    print("reproduce: .venv/bin/python benchmarks/bench_model.py")


if __name__ == "__main__":
    main()
