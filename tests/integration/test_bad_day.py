"""Recovery on the bad day: it works from the archive and the pointer, whatever else is broken.

Against both stores. Versions are trained once per module (three runs, each gated on an
empty store) and published into a fresh store per test.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import joblib
import pytest

from heartml.errors import ConfigError, ObjectExists, StoreError
from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.run_folder import read_artifacts
from tests.helpers import DATASET, DelegatingStore, call_step

RUNS = ("v1", "v2", "v3")


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[str, tuple[bytes, dict]]:
    """Three trained and gated versions: run id -> (model bytes, metrics)."""
    tmp = tmp_path_factory.mktemp("versions")
    trained = {}
    for run_id in RUNS:
        out = tmp / run_id
        args = ["--path", str(DATASET), "--out", str(out), "--run-id", run_id]
        assert call_step("train", *args).returncode == 0
        empty = str(tmp / f"empty-{run_id}")
        gate = call_step("gate", "--artifacts", str(out), PIPELINE_STORE=empty)
        assert gate.returncode == 0, gate.stderr
        trained[run_id] = read_artifacts(out)
    return trained


def publish_all(store: Store, versions: dict) -> None:
    for run_id in RUNS:
        model_bytes, metrics = versions[run_id]
        assert registry.publish(store, model_bytes, metrics)


DAMAGED_COPIES = {
    "truncated": lambda good: good[: len(good) // 2],
    "empty": lambda good: b"",
    "random bytes": lambda good: os.urandom(512),
    "a pickle of something else": lambda good: _pickle({"not": "a model"}),
}


def _pickle(value: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(value, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("damage", list(DAMAGED_COPIES))
def test_rollback_history_gate_and_serving_work_with_latest_joblib_damaged(
    store_uri, versions, damage, tmp_path
) -> None:
    store = open_store(store_uri)
    publish_all(store, versions)
    store.write_bytes(
        registry.LATEST_MODEL_KEY, DAMAGED_COPIES[damage](store.read_bytes("models/v3.joblib"))
    )
    history = call_step("history", "--store", store_uri)
    assert history.returncode == 0, history.stderr
    previous = call_step("rollback", "--previous", PIPELINE_STORE=store_uri)
    assert previous.returncode == 0, previous.stderr
    assert registry.live_run_id(store) == "v2"
    assert (
        sha256_bytes(store.read_bytes(registry.LATEST_MODEL_KEY))
        == (versions["v2"][1]["model_sha256"])
    )
    store.write_bytes(registry.LATEST_MODEL_KEY, DAMAGED_COPIES[damage](b"x" * 64))
    to = call_step("rollback", "--to", "v1", PIPELINE_STORE=store_uri)
    assert to.returncode == 0, to.stderr
    assert served_model.load_from_store(store).run_id == "v1"
    store.write_bytes(registry.LATEST_MODEL_KEY, DAMAGED_COPIES[damage](b"y" * 64))
    # Unpinned readers follow the pointer to the archived version.
    assert served_model.load_from_store(store).run_id == "v1"


def test_rollback_to_a_named_version_needs_neither_latest_file(store_uri, versions, capsys) -> None:
    store = open_store(store_uri)
    publish_all(store, versions)
    store.write_bytes(registry.LATEST_POINTER_KEY, b"{not json")
    store.write_bytes(registry.LATEST_MODEL_KEY, b"")
    history = call_step("history", "--store", store_uri)
    listed = capsys.readouterr().out
    assert history.returncode == 0 and listed.count("passed") == 3 and "<- live" not in listed
    previous = call_step("rollback", "--previous", PIPELINE_STORE=store_uri)
    assert previous.returncode == 1
    assert "name one with --to" in previous.stderr
    assert call_step("rollback", "--to", "v2", PIPELINE_STORE=store_uri).returncode == 0
    assert registry.live_run_id(store) == "v2"


class InterleavingStore(DelegatingStore):
    """Runs ``meanwhile`` just before it writes ``latest.joblib`` the first time."""

    def __init__(self, inner: Store, meanwhile) -> None:
        super().__init__(inner)
        self.meanwhile = meanwhile

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        if key == registry.LATEST_MODEL_KEY and self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        self.inner.write_bytes(key, data, exclusive=exclusive)


def test_two_promotions_interleaved_end_with_one_answer(local_uri, versions) -> None:
    """C's pointer, then all of D, then C's copy: the pointer (D) wins and the copy follows it.

    A forced interleaving on the local store (the emulator ignores preconditions, so it
    proves nothing more there).
    """
    store = open_store(local_uri)
    for run_id in ("v1", "v2"):
        model_bytes, metrics = versions[run_id]
        store.write_bytes(registry.model_key(run_id), model_bytes, exclusive=True)
        store.write_bytes(
            registry.metrics_key(run_id), json.dumps(metrics).encode(), exclusive=True
        )
    registry.promote(
        InterleavingStore(store, lambda: registry.promote(store, "v2", reason="trained")),
        "v1",
        reason="trained",
    )
    assert registry.live_run_id(store) == "v2"
    assert (
        sha256_bytes(store.read_bytes(registry.LATEST_MODEL_KEY))
        == (versions["v2"][1]["model_sha256"])
    )
    assert served_model.load_from_store(store).run_id == "v2"


class DiesBeforeMetrics(InterleavingStore):
    def __init__(self, inner: Store) -> None:
        super().__init__(inner, None)

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        if key.startswith(registry.METRICS_PREFIX):
            raise StoreError(f"killed while writing {key}")
        self.inner.write_bytes(key, data, exclusive=exclusive)


def test_a_rerun_finishes_an_archive_interrupted_between_model_and_metrics(
    store_uri, versions
) -> None:
    store = open_store(store_uri)
    model_bytes, metrics = versions["v1"]
    with pytest.raises(StoreError, match="killed"):
        registry.publish(DiesBeforeMetrics(store), model_bytes, metrics)
    assert registry.live_run_id(store) is None
    assert registry.publish(store, model_bytes, metrics)  # the same bytes: finished
    assert registry.live_run_id(store) == "v1"
    with pytest.raises(ObjectExists):  # a complete version is never overwritten
        registry.publish(store, model_bytes, metrics)


def test_a_rerun_with_other_bytes_supersedes_the_interrupted_archive_and_keeps_it(
    store_uri, versions
) -> None:
    store = open_store(store_uri)
    model_bytes, metrics = versions["v1"]
    orphan = b"bytes of an earlier attempt"
    store.write_bytes(registry.model_key("v1"), orphan, exclusive=True)
    assert registry.publish(store, model_bytes, metrics)
    assert store.read_bytes(registry.model_key("v1")) == model_bytes
    kept = f"{registry.SUPERSEDED_PREFIX}v1.{sha256_bytes(orphan)[:12]}.joblib"
    assert store.read_bytes(kept) == orphan


@pytest.mark.parametrize(
    "run_id", ["latest", "LATEST", "../../x/evil", "a/b", ".hidden", "", "x\n::warning::y"]
)
def test_run_ids_that_could_name_another_file_are_refused_everywhere(
    local_uri, versions, run_id, tmp_path
) -> None:
    store = open_store(local_uri)
    publish_all(store, versions)
    with pytest.raises(ConfigError):
        registry.model_key(run_id)
    rollback = call_step("rollback", "--to", run_id, PIPELINE_STORE=local_uri)
    assert rollback.returncode == 1
    assert registry.live_run_id(store) == "v3"
    if run_id:  # an empty flag falls back to a generated id
        out = tmp_path / "out"
        train = call_step("train", "--path", str(DATASET), "--out", str(out), "--run-id", run_id)
        assert train.returncode == 1 and "run id" in train.stderr
    assert not (Path(local_uri).parent / "x").exists()


MALFORMED_METRICS = {
    "a JSON list": b"[1, 2]",
    "gate as text": None,  # filled in from a real record below
    "text for a score": None,
    "a null timestamp": None,
    "a timestamp with a workflow command": None,
    "not JSON": b"{",
}


@pytest.mark.parametrize("kind", list(MALFORMED_METRICS))
def test_a_malformed_metrics_file_is_skipped_by_name_not_a_crash(
    store_uri, versions, kind, capsys
) -> None:
    store = open_store(store_uri)
    publish_all(store, versions)
    record = dict(versions["v2"][1], run_id="v2-bad")
    content = (
        MALFORMED_METRICS[kind]
        or json.dumps(
            {
                "gate as text": {**record, "gate": "yes"},
                "text for a score": {**record, "roc_auc": "high"},
                "a null timestamp": {**record, "timestamp": None},
                "a timestamp with a workflow command": {
                    **record,
                    "timestamp": "x\n::error::forged",
                },
            }[kind]
        ).encode()
    )
    store.write_bytes(registry.metrics_key("v2-bad"), content)
    history = call_step("history", "--store", store_uri)
    assert history.returncode == 0, history.stderr
    listed = capsys.readouterr().out.splitlines()[1:]
    assert [row.split()[0] for row in listed] == list(RUNS)
    assert not any(row.startswith("::") for row in listed)
    assert "skipping" in history.stderr and "v2-bad.json" in history.stderr
    previous = call_step("rollback", "--previous", PIPELINE_STORE=store_uri)
    assert previous.returncode == 0, previous.stderr
    assert registry.live_run_id(store) == "v2"


class WriteSchedule:
    """Forces the order in which two threads' store writes happen ("ABAB" ...).

    Writes past the schedule, or of a thread that has finished, go through freely.
    """

    def __init__(self, order: str) -> None:
        self.order, self.position, self.finished = order, 0, set()
        self.condition = threading.Condition()

    def turn(self, me: str) -> None:
        with self.condition:
            while self.position < len(self.order) and self.order[self.position] != me:
                if self.order[self.position] in self.finished:
                    self.position += 1
                    continue
                if not self.condition.wait(timeout=30):
                    raise RuntimeError(f"schedule {self.order} stuck at {self.position}")
            if self.position < len(self.order):
                self.position += 1
            self.condition.notify_all()

    def finish(self, me: str) -> None:
        with self.condition:
            self.finished.add(me)
            self.condition.notify_all()


class ScheduledStore(InterleavingStore):
    def __init__(self, inner: Store, schedule: WriteSchedule, me: str) -> None:
        super().__init__(inner, None)
        self.schedule, self.me = schedule, me

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        self.schedule.turn(self.me)
        self.inner.write_bytes(key, data, exclusive=exclusive)


@pytest.mark.parametrize("order", ["AABB", "ABAB", "ABBA", "BAAB", "BABA", "BBAA"])
def test_every_interleaving_of_two_promotions_ends_with_one_answer(
    local_uri, versions, order
) -> None:
    """Each promotion writes the pointer, then the copy: every order of those four writes."""
    store = open_store(local_uri)
    publish_all(store, versions)  # v3 promoted
    schedule = WriteSchedule(order)
    errors: list[BaseException] = []

    def promote(me: str, run_id: str) -> None:
        try:
            registry.promote(ScheduledStore(store, schedule, me), run_id, reason="rollback")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)
        finally:
            schedule.finish(me)

    threads = [
        threading.Thread(target=promote, args=("A", "v1")),
        threading.Thread(target=promote, args=("B", "v2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    run_id, sha256 = registry.promoted_version(store)
    assert run_id in {"v1", "v2"}
    assert sha256_bytes(store.read_bytes(registry.LATEST_MODEL_KEY)) == sha256
    assert served_model.load_from_store(store).run_id == run_id
