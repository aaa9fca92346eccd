"""Shared fixtures: real stand-ins on loopback (GCS emulator, functions-framework)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import BUCKET, DATASET, free_port


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """Start gcp-storage-emulator in-process and point google-cloud-storage at it."""
    from gcp_storage_emulator.server import create_server

    server = create_server("127.0.0.1", 0, in_memory=True, default_bucket=BUCKET)
    server.start()
    host = f"http://127.0.0.1:{server._api._httpd.server_port}"
    previous = os.environ.get("STORAGE_EMULATOR_HOST")
    os.environ["STORAGE_EMULATOR_HOST"] = host
    yield host
    server.stop()
    if previous is None:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    else:
        os.environ["STORAGE_EMULATOR_HOST"] = previous


@pytest.fixture
def gcs_uri(gcs_emulator: str) -> str:
    """A fresh ``gs://`` root in the emulator bucket, one per test."""
    return f"gs://{BUCKET}/t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def local_uri(tmp_path: Path) -> str:
    """A fresh local-folder store, one per test."""
    return str(tmp_path / "store")


@pytest.fixture(params=["local", "gcs"])
def store_uri(request: pytest.FixtureRequest) -> str:
    """Each store-level test runs against a local folder and the emulator bucket."""
    if request.param == "local":
        return request.getfixturevalue("local_uri")
    return request.getfixturevalue("gcs_uri")


@pytest.fixture(scope="session")
def trained_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Train once on the shipped dataset; tests copy from here instead of retraining."""
    from steps import gate, train

    out = tmp_path_factory.mktemp("artifacts")
    empty_store = tmp_path_factory.mktemp("empty-store")
    assert train.main(["--path", str(DATASET), "--out", str(out), "--run-id", "fixture-run"]) == 0
    gate_args = ["--artifacts", str(out), "--store", str(empty_store)]
    assert gate.main([*gate_args, "--reports", str(out / "reports")]) == 0
    return out


@pytest.fixture
def artifacts_copy(trained_artifacts: Path, tmp_path: Path) -> Path:
    """A private copy of the trained artifacts a test may alter."""
    return Path(shutil.copytree(trained_artifacts, tmp_path / "artifacts"))


@pytest.fixture
def free_tcp_port() -> int:
    """A loopback port with nothing listening on it."""
    return free_port()
