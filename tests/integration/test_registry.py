"""Lineage, history, rollback and crash consistency, against both stores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from heartml.errors import StoreError
from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.run_folder import read_artifacts
from tests.helpers import DATASET, DelegatingStore, call_step


def _version(tmp_path: Path, store_uri: str, run_id: str, *, seed: int = 42, **gate_env) -> Path:
    """Train and gate one version against the store's live model; return its artifacts."""
    out = tmp_path / run_id
    args = ["--path", str(DATASET), "--out", str(out), "--run-id", run_id, "--seed", str(seed)]
    assert call_step("train", *args).returncode == 0
    call_step(
        "gate", "--artifacts", str(out), "--reports", str(out / "r"),
        PIPELINE_STORE=store_uri, **gate_env,
    )  # fmt: skip
    return out


def _publish(tmp_path: Path, store_uri: str, run_id: str, **gate_env) -> None:
    out = _version(tmp_path, store_uri, run_id, **gate_env)
    result = call_step(
        "upload", "--artifacts", str(out), "--path", str(DATASET), PIPELINE_STORE=store_uri
    )
    assert result.returncode == 0, result.stderr


def _live(store: Store) -> bytes:
    return store.read_bytes(registry.LATEST_MODEL_KEY)


def test_metrics_record_lineage_and_the_verdict(store_uri, tmp_path) -> None:
    _publish(tmp_path, store_uri, "v1")
    _publish(tmp_path, store_uri, "v2")
    store = open_store(store_uri)
    metrics = registry.read_metrics(store, "v2")
    assert metrics["dataset"] == {"sha256": sha256_bytes(DATASET.read_bytes()), "rows": 303}
    assert metrics["gate"]["passed"] is True
    assert metrics["gate"]["champion"]["run_id"] == "v1"
    assert metrics["params"]["seed"] == 42
    assert metrics["versions"]["scikit-learn"]
    assert (
        store.read_bytes(registry.dataset_key(metrics["dataset"]["sha256"])) == DATASET.read_bytes()
    )


class CountingStore(DelegatingStore):
    """Wraps a store and records every key read, to prove what a reader touched."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner)
        self.reads: list[str] = []

    def read_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return self.inner.read_bytes(key)


def test_history_lists_every_version_without_reading_a_model(store_uri, tmp_path) -> None:
    _publish(tmp_path, store_uri, "v1")
    _publish(tmp_path, store_uri, "v2", GATE_MIN_ROC_AUC="0.99")  # held back
    store = CountingStore(open_store(store_uri))
    versions = registry.versions(store)
    assert [(m["run_id"], registry.gate_passed(m)) for m in versions] == [
        ("v1", True),
        ("v2", False),
    ]
    assert not [key for key in store.reads if key.endswith(".joblib")]


def test_a_held_back_version_is_archived_but_latest_stays(store_uri, tmp_path) -> None:
    _publish(tmp_path, store_uri, "v1")
    store = open_store(store_uri)
    live = _live(store)
    _publish(tmp_path, store_uri, "v2", GATE_MIN_ROC_AUC="0.99")
    assert store.exists(registry.model_key("v2"))
    assert _live(store) == live
    assert registry.live_run_id(store) == "v1"


def test_rollback_round_trips(store_uri, tmp_path) -> None:
    for run_id in ("v1", "v2"):
        _publish(tmp_path, store_uri, run_id)
    store = open_store(store_uri)
    assert call_step("rollback", "--to", "v1", PIPELINE_STORE=store_uri).returncode == 0
    assert _live(store) == store.read_bytes(registry.model_key("v1"))
    assert registry.live_run_id(store) == "v1"
    assert json.loads(store.read_bytes(registry.LATEST_POINTER_KEY))["reason"] == "rollback"
    assert call_step("rollback", "--to", "v2", PIPELINE_STORE=store_uri).returncode == 0
    assert _live(store) == store.read_bytes(registry.model_key("v2"))
    assert call_step("rollback", "--previous", PIPELINE_STORE=store_uri).returncode == 0
    assert registry.live_run_id(store) == "v1"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--to", "nope"], "no archived version 'nope'"),
        (["--previous"], "no version passed by the gate was trained before live v1"),
        (["--to", "v1", "--previous"], "give exactly one of"),
        ([], "give exactly one of"),
    ],
)
def test_rollback_refuses_what_it_cannot_do(store_uri, tmp_path, args, reason) -> None:
    _publish(tmp_path, store_uri, "v1")
    store = open_store(store_uri)
    live = _live(store)
    result = call_step("rollback", *args, PIPELINE_STORE=store_uri)
    assert result.returncode == 1
    assert reason in result.stderr
    assert _live(store) == live


def test_rollback_refuses_a_tampered_archive_and_a_held_back_version(store_uri, tmp_path) -> None:
    _publish(tmp_path, store_uri, "v1")
    _publish(tmp_path, store_uri, "v2")
    _publish(tmp_path, store_uri, "v3", GATE_MIN_ROC_AUC="0.99")
    store = open_store(store_uri)
    live = _live(store)
    store.write_bytes(registry.model_key("v1"), b"not the archived model")  # bypasses exclusivity

    tampered = call_step("rollback", "--to", "v1", PIPELINE_STORE=store_uri)
    assert tampered.returncode == 1 and "does not match metrics" in tampered.stderr
    held = call_step("rollback", "--to", "v3", PIPELINE_STORE=store_uri)
    assert held.returncode == 1 and "held back by the gate" in held.stderr
    assert _live(store) == live
    forced = call_step("rollback", "--to", "v3", "--force", PIPELINE_STORE=store_uri)
    assert forced.returncode == 0 and registry.live_run_id(store) == "v3"


class CrashingStore(CountingStore):
    """A store whose process 'dies' when it is about to write one key."""

    def __init__(self, inner: Store, crash_on: str) -> None:
        super().__init__(inner)
        self.crash_on = crash_on

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        if key == self.crash_on:
            raise StoreError(f"killed while writing {key}")
        super().write_bytes(key, data, exclusive=exclusive)


@pytest.mark.parametrize(
    ("crash_on", "live_after"),
    [
        (registry.LATEST_POINTER_KEY, "v1"),  # killed after archiving, before promoting
        (registry.LATEST_MODEL_KEY, "v2"),  # killed between latest.json and its copy
    ],
)
def test_a_killed_run_leaves_one_answer_to_which_version_is_promoted(
    store_uri, tmp_path, crash_on, live_after
) -> None:
    _publish(tmp_path, store_uri, "v1")
    model_bytes, metrics = read_artifacts(_version(tmp_path, store_uri, "v2"))
    store = open_store(store_uri)
    with pytest.raises(StoreError, match="killed"):
        registry.publish(CrashingStore(store, crash_on), model_bytes, metrics, DATASET.read_bytes())

    assert registry.live_run_id(store) == live_after
    live_metrics = registry.read_metrics(store, live_after)
    # A reader of the model follows the pointer, whatever latest.joblib holds...
    assert served_model.load_from_store(store).run_id == live_after
    # ...and the copy is brought back in line by the next promotion, or by hand.
    registry.refresh_latest_copy(store)
    assert sha256_bytes(_live(store)) == live_metrics["model_sha256"]
