"""Fault injection: kill -9 before and after, or an error after, every store write of upload
and rollback.

For both stores (a local folder, and gcp-storage-emulator run as its own process) the
store first holds version v1, promoted. Then ``steps.upload`` publishes v2, or
``steps.rollback`` goes back to v1 from v2, in a child process that dies (SIGKILL) or
fails at its Nth write (tests/faults/crash_at_write.py), for every N. After each fault:

- no version archived before it is lost or changed;
- the store names one promoted version, archived whole (model and metrics agree);
- an unpinned function reads exactly that version;
- the step run again finishes (or the version was complete), rollback works both ways,
  and ``latest.joblib`` then agrees with the pointer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from heartml.serving import served_model
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.store.model_file import sha256_bytes
from heartml.store.run_folder import read_artifacts
from tests.helpers import DATASET, REPO, call_step, free_port, python_env

BUCKET = "heartml-faults"
# dataset archive, model card (JSON, Markdown), model, metrics, latest.json, latest.joblib
UPLOAD_WRITES = 7
ROLLBACK_WRITES = 2  # latest.json, latest.joblib
# A kill before write N (N > 1) leaves the store exactly as a kill after write N - 1 does
# (nothing is written between them), and an error before a write as a kill before it. So:
# a kill before the first write, and a kill and an error after every write.
CASES = [
    (step, n, when, how)
    for step, writes in (("upload", UPLOAD_WRITES), ("rollback", ROLLBACK_WRITES))
    for n in range(1, writes + 1)
    for when, how in (("before", "kill"), ("after", "kill"), ("after", "error"))
    if when == "after" or n == 1
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[str]:
    """gcp-storage-emulator as its own process, as a developer runs it."""
    port = free_port()
    process = _start_emulator(port, None)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """v1 and v2 trained and gated once: run id -> (artifacts folder, its dataset).

    v2 trains on the data less its last row, so its upload archives a new dataset too.
    """
    tmp = tmp_path_factory.mktemp("fault-versions")
    fewer = tmp / "fewer.csv"
    fewer.write_bytes(b"\n".join(DATASET.read_bytes().rstrip().splitlines()[:-1]) + b"\n")
    trained = {}
    for run_id, data in (("v1", DATASET), ("v2", fewer)):
        out = tmp / run_id
        args = ["--path", str(data), "--out", str(out), "--run-id", run_id]
        assert call_step("train", *args).returncode == 0
        gate = call_step("gate", "--artifacts", str(out), PIPELINE_STORE=str(tmp / "empty"))
        assert gate.returncode == 0, gate.stderr
        trained[run_id] = (out, data)
    return trained


@pytest.fixture(params=["local", "gcs"])
def store(request, tmp_path, emulator, monkeypatch) -> Store:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    if request.param == "local":
        return open_store(tmp_path / "store")
    return open_store(f"gs://{BUCKET}/{uuid.uuid4().hex[:10]}")


def _publish(store: Store, version: tuple[Path, Path]) -> None:
    model_bytes, metrics = read_artifacts(version[0])
    assert registry.publish(store, model_bytes, metrics, version[1].read_bytes())


def _step(store: Store, step: str, args: list[str], fault: list[str] | None = None):
    command = (
        ["-m", "tests.faults.crash_at_write", *fault, step] if fault else ["-m", f"steps.{step}"]
    )
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=REPO,
        env=python_env(PIPELINE_STORE=store.uri),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _archive(store: Store) -> dict[str, bytes]:
    return {
        key: store.read_bytes(key)
        for key in store.list_keys()
        if key.startswith(("models/", "datasets/"))
        and not key.startswith((registry.LATEST_MODEL_KEY, registry.LATEST_POINTER_KEY))
    }


def assert_consistent(store: Store, before: dict[str, bytes]) -> str:
    """The invariants every fault must leave; returns the promoted run id."""
    after = _archive(store)
    for key, data in before.items():
        assert after.get(key) == data, f"{key} lost or changed"
    promoted = registry.promoted_version(store)
    assert promoted is not None
    run_id, sha256 = promoted
    metrics = registry.read_metrics(store, run_id)
    assert metrics["model_sha256"] == sha256
    assert sha256_bytes(store.read_bytes(registry.model_key(run_id))) == sha256
    assert served_model.load_from_store(store).run_id == run_id
    return run_id


@pytest.mark.parametrize(("step", "n", "when", "how"), CASES)
def test_a_fault_at_any_write_leaves_a_consistent_recoverable_store(
    store, versions, tmp_path, step, n, when, how
) -> None:
    _publish(store, versions["v1"])
    if step == "rollback":
        _publish(store, versions["v2"])
        args = ["--to", "v1"]
    else:
        shutil.copytree(versions["v2"][0], tmp_path / "v2")
        args = ["--artifacts", str(tmp_path / "v2"), "--path", str(versions["v2"][1])]
    before = _archive(store)

    faulted = _step(store, step, args, [str(n), when, how])
    assert faulted.returncode != 0
    if how == "kill":
        assert faulted.returncode == -9
    promoted = assert_consistent(store, before)
    assert promoted in {"v1", "v2"}

    # Recovery: the step again, then rollback both ways.
    again = _step(store, step, args)
    complete = "already exists and is never overwritten" in again.stderr
    assert again.returncode == 0 or complete, again.stderr
    expected = "v1" if step == "rollback" else "v2"
    if again.returncode == 0:
        assert assert_consistent(store, before) == expected
    for target in ("v1", "v2"):
        if store.exists(registry.metrics_key(target)):
            assert _step(store, "rollback", ["--to", target]).returncode == 0
            assert assert_consistent(store, before) == target
            latest = store.read_bytes(registry.LATEST_MODEL_KEY)
            assert sha256_bytes(latest) == registry.promoted_version(store)[1]


@pytest.mark.parametrize("cut", range(1, UPLOAD_WRITES + 1))
def test_an_upload_cut_mid_body_never_leaves_a_half_written_object(
    versions, emulator, tmp_path, cut, monkeypatch
) -> None:
    """The network drops the cut-th write of steps.upload part way through its body."""
    from tests.faults.cutting_proxy import CuttingProxy

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", emulator)
    uri = f"gs://{BUCKET}/{uuid.uuid4().hex[:10]}"
    direct = open_store(uri)
    _publish(direct, versions["v1"])
    before = _archive(direct)
    proxy = CuttingProxy(int(emulator.rsplit(":", 1)[1]), cut=cut)
    shutil.copytree(versions["v2"][0], tmp_path / "v2")
    args = ["--artifacts", str(tmp_path / "v2"), "--path", str(versions["v2"][1])]
    try:
        result = subprocess.run(
            [sys.executable, "-m", "steps.upload", *args],
            cwd=REPO,
            env=python_env(
                PIPELINE_STORE=uri,
                STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{proxy.port}",
                PIPELINE_STORE_TIMEOUT="20",
            ),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        proxy.close()
    assert proxy.cuts == 1
    promoted = assert_consistent(direct, before)
    # Either the client's retry carried the write through, or the step failed in one line.
    assert (result.returncode, promoted) in {(0, "v2"), (1, "v1"), (1, "v2")}, result.stderr
    for key in direct.list_keys():
        if key.startswith("models/") and key.endswith(".joblib"):
            data = direct.read_bytes(key)
            if key.startswith(("models/v1", "models/v2")):
                run_id = key.removeprefix("models/").removesuffix(".joblib")
                if direct.exists(registry.metrics_key(run_id)):
                    assert (
                        sha256_bytes(data) == registry.read_metrics(direct, run_id)["model_sha256"]
                    )


def _start_emulator(port: int, data: Path | None) -> subprocess.Popen:
    """Start the emulator in memory, or persisting to ``data`` so a restart keeps it."""
    exe = Path(sys.executable).with_name("gcp-storage-emulator")
    where = ["-d", str(data)] if data else []
    memory = [] if data else ["--in-memory"]
    process = subprocess.Popen(
        [str(exe), *where, "start", "--host", "127.0.0.1", "--port", str(port), *memory,
         "--default-bucket", BUCKET],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)  # polling for readiness against a deadline
    raise RuntimeError("the emulator did not start")


@pytest.mark.parametrize(
    ("n", "when"),
    # As in CASES: killed before write N > 1 is killed after write N - 1.
    [(n, when) for n in range(1, UPLOAD_WRITES + 1) for when in ("before", "after")
     if when == "after" or n == 1],
)  # fmt: skip
def test_the_storage_server_killed_at_any_write_of_an_upload(
    versions, tmp_path, monkeypatch, n, when
) -> None:
    """The emulator (persisting to disk) is killed at a write, then started again."""
    port, data = free_port(), tmp_path / "gcs-data"
    emulator = _start_emulator(port, data)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{port}")
    try:
        store = open_store(f"gs://{BUCKET}/killed")
        _publish(store, versions["v1"])
        before = _archive(store)
        shutil.copytree(versions["v2"][0], tmp_path / "v2")
        args = ["--artifacts", str(tmp_path / "v2"), "--path", str(versions["v2"][1])]
        result = subprocess.run(
            [sys.executable, "-m", "tests.faults.crash_at_write", str(n), when, "kill-store",
             "upload", *args],
            cwd=REPO,
            env=python_env(
                PIPELINE_STORE=store.uri,
                FAULT_EMULATOR_PID=str(emulator.pid),
                PIPELINE_STORE_TIMEOUT="3",
            ),
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert emulator.wait(timeout=10) == -9
        assert result.returncode == 1, result.stderr
        assert "upload failed: cannot" in result.stderr  # one line naming the store call
        emulator = _start_emulator(port, data)
        assert assert_consistent(store, before) in {"v1", "v2"}
        again = _step(store, "upload", args)
        assert again.returncode == 0 or "never overwritten" in again.stderr, again.stderr
        assert _step(store, "rollback", ["--to", "v2"]).returncode == 0
        assert assert_consistent(store, before) == "v2"
    finally:
        emulator.kill()
        emulator.wait(timeout=10)
