"""The store: the same behaviour from a local folder and from the emulator bucket."""

from __future__ import annotations

import pytest

from heartml.errors import ConfigError, ObjectExists, ObjectNotFound, StoreError
from heartml.store.backends import GCSStore, LocalStore, open_store


def test_write_then_read_returns_the_same_bytes(store_uri: str) -> None:
    store = open_store(store_uri)
    store.write_bytes("models/a.joblib", b"\x00model\xff")
    assert store.read_bytes("models/a.joblib") == b"\x00model\xff"
    assert store.exists("models/a.joblib")
    assert not store.exists("models/b.joblib")


def test_plain_write_replaces_the_object(store_uri: str) -> None:
    store = open_store(store_uri)
    store.write_bytes("models/latest.joblib", b"old")
    store.write_bytes("models/latest.joblib", b"new")
    assert store.read_bytes("models/latest.joblib") == b"new"


def test_exclusive_write_never_replaces_an_existing_object(store_uri: str) -> None:
    store = open_store(store_uri)
    store.write_bytes("models/1.joblib", b"first", exclusive=True)
    with pytest.raises(ObjectExists, match="never overwritten"):
        store.write_bytes("models/1.joblib", b"second", exclusive=True)
    assert store.read_bytes("models/1.joblib") == b"first"


def test_reading_a_missing_key_names_it(store_uri: str) -> None:
    store = open_store(store_uri)
    with pytest.raises(ObjectNotFound, match=r"dataset\.csv does not exist"):
        store.read_bytes("dataset.csv")


def test_list_keys_filters_by_prefix_and_sorts(store_uri: str) -> None:
    store = open_store(store_uri)
    for key in ["models/metrics/2.json", "models/metrics/1.json", "models/1.joblib", "dataset.csv"]:
        store.write_bytes(key, b"x")
    assert store.list_keys("models/metrics/") == ["models/metrics/1.json", "models/metrics/2.json"]
    assert store.list_keys() == [
        "dataset.csv",
        "models/1.joblib",
        "models/metrics/1.json",
        "models/metrics/2.json",
    ]


def test_local_store_leaves_no_temporary_files(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.write_bytes("models/latest.joblib", b"a")
    store.write_bytes("models/latest.joblib", b"b")
    with pytest.raises(ObjectExists):
        store.write_bytes("models/latest.joblib", b"c", exclusive=True)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["latest.joblib"]


@pytest.mark.parametrize(
    ("uri", "kind", "root"),
    [
        ("gs://bucket", GCSStore, "gs://bucket"),
        ("gs://bucket/heart-disease/", GCSStore, "gs://bucket/heart-disease"),
        ("some/folder", LocalStore, "some/folder"),
    ],
)
def test_open_store_picks_the_kind_from_the_uri(gcs_emulator, uri, kind, root) -> None:
    store = open_store(uri)
    assert isinstance(store, kind)
    assert store.uri == root


@pytest.mark.parametrize("uri", ["", "   ", "gs://", "gs:///prefix", "s3://bucket/x"])
def test_open_store_rejects_unusable_uris(uri: str) -> None:
    with pytest.raises(ConfigError):
        open_store(uri)


def test_unreachable_bucket_fails_fast_with_a_store_error(monkeypatch, free_tcp_port) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{free_tcp_port}")
    store = open_store("gs://bucket/prefix", timeout=2)
    with pytest.raises(StoreError, match=r"cannot read gs://bucket/prefix/dataset\.csv"):
        store.read_bytes("dataset.csv")


def test_open_store_takes_the_configured_timeout_and_refuses_a_bad_one(monkeypatch, tmp_path):
    from heartml.errors import ConfigError
    from heartml.store.backends import open_store

    monkeypatch.setenv("PIPELINE_STORE_TIMEOUT", "7")
    assert open_store("gs://some-bucket/prefix")._timeout == 7
    assert open_store("gs://some-bucket/prefix", timeout=3)._timeout == 3
    monkeypatch.setenv("PIPELINE_STORE_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="PIPELINE_STORE_TIMEOUT"):
        open_store(tmp_path / "store")  # refused for a folder too, as every step did before
