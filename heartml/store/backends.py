"""Where the pipeline keeps datasets and models: a gs:// bucket or a local folder.

This is the only module that talks to Cloud Storage. Both kinds of store give the
same two guarantees the rest of the pipeline relies on:

- a write is all or nothing: a reader sees the old object or the new one, never a
  half-written file (GCS finalises an object only when its upload completes; the
  local store writes a temporary file and renames it into place);
- an exclusive write never replaces an existing object, which is how archived model
  versions stay immutable.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from heartml.errors import ConfigError, ObjectExists, ObjectNotFound, StoreError

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.store")

DEFAULT_TIMEOUT_SECONDS = 60.0
MAX_STORED_JSON_BYTES = 16 * 1024 * 1024  # a month of one day's windows is ~1 MB


def parse_stored(data: bytes) -> Any:
    """JSON read from a store, as data: any way it fails to parse is a ValueError.

    Whoever can write the store can write anything: nesting deep enough to exhaust the
    parser's recursion, or an object large enough to exhaust memory, is refused as
    malformed like any other bad JSON, so one except clause covers every reader.
    """
    if len(data) > MAX_STORED_JSON_BYTES:
        raise ValueError(f"larger than {MAX_STORED_JSON_BYTES:,} bytes")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply to be a record") from None


class Store(ABC):
    """A flat key space of byte objects under one root URI."""

    uri: str

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """Return the object's bytes; raise ObjectNotFound when it is absent."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        """Store ``data`` under ``key`` atomically.

        With ``exclusive=True`` an existing object is never replaced: ObjectExists is
        raised instead.
        """

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object under ``key``; a missing object is not an error.

        Only the event consumers' claims are ever deleted; versions never are.
        """

    @abstractmethod
    def list_keys(self, prefix: str = "") -> list[str]:
        """Return the sorted keys that start with ``prefix``."""

    def url(self, key: str) -> str:
        """Name an object for log lines and error messages."""
        return f"{self.uri.rstrip('/')}/{key}"


class LocalStore(Store):
    """A folder standing in for the bucket, so the whole loop runs with no account."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"{self.url(key)} does not exist") from None
        except OSError as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from exc

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        except OSError as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if exclusive:
                # link() fails if the target exists, so the check and the write are one step.
                os.link(tmp, target)
            else:
                os.replace(tmp, target)
        except FileExistsError:
            raise ObjectExists(f"{self.url(key)} already exists and is never overwritten") from None
        except OSError as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {self.url(key)}: {exc.strerror or exc}") from exc

    def list_keys(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".")
        )
        return sorted(key for key in keys if key.startswith(prefix))


class GCSStore(Store):
    """A ``gs://bucket/prefix`` root, through google-cloud-storage.

    The client honours ``STORAGE_EMULATOR_HOST``, which is how tests and the local
    loop reach an emulator with the very same code path as production.
    """

    def __init__(
        self, bucket: str, prefix: str = "", *, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        from google.cloud import storage
        from google.cloud.storage.retry import DEFAULT_RETRY

        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"gs://{bucket}/{self.prefix}" if self.prefix else f"gs://{bucket}"
        # Bound every call: the client's default retry deadline is minutes long, and an
        # unattended run that cannot reach its bucket should say so quickly.
        self._timeout = timeout
        self._retry = DEFAULT_RETRY.with_timeout(timeout)
        project = os.environ.get("GOOGLE_CLOUD_PROJECT")
        if project is None and os.environ.get("STORAGE_EMULATOR_HOST"):
            project = "local-emulator"  # the emulator needs a project name, not a real one
        try:
            self._client = storage.Client(project=project)
        except Exception as exc:  # google.auth raises several unrelated types here
            raise StoreError(f"cannot create a Cloud Storage client for {self.uri}: {exc}") from exc
        self._bucket = self._client.bucket(bucket)

    def _name(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, action: str, key: str, fn):  # noqa: ANN001 - thin error mapper
        from google.api_core import exceptions as gexc

        try:
            return fn()
        except gexc.NotFound:
            raise ObjectNotFound(f"{self.url(key)} does not exist") from None
        except gexc.PreconditionFailed:
            raise ObjectExists(f"{self.url(key)} already exists and is never overwritten") from None
        except Exception as exc:  # transport, auth and retry errors all mean "store unusable"
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreError(f"cannot {action} {self.url(key)}: {reason}") from exc

    def read_bytes(self, key: str) -> bytes:
        blob = self._bucket.blob(self._name(key))
        return self._call(
            "read",
            key,
            lambda: blob.download_as_bytes(timeout=self._timeout, retry=self._retry),
        )

    def write_bytes(self, key: str, data: bytes, *, exclusive: bool = False) -> None:
        blob = self._bucket.blob(self._name(key))
        if exclusive and self.exists(key):
            # The precondition below is what protects a real bucket; this check also
            # covers emulators, which ignore preconditions.
            raise ObjectExists(f"{self.url(key)} already exists and is never overwritten")
        self._call(
            "write",
            key,
            lambda: blob.upload_from_string(
                data,
                content_type=_content_type(key),
                if_generation_match=0 if exclusive else None,
                timeout=self._timeout,
                retry=self._retry,
            ),
        )

    def exists(self, key: str) -> bool:
        blob = self._bucket.blob(self._name(key))
        return bool(
            self._call("check", key, lambda: blob.exists(timeout=self._timeout, retry=self._retry))
        )

    def delete(self, key: str) -> None:
        blob = self._bucket.blob(self._name(key))
        with contextlib.suppress(ObjectNotFound):
            self._call("delete", key, lambda: blob.delete(timeout=self._timeout, retry=self._retry))

    def list_keys(self, prefix: str = "") -> list[str]:
        full_prefix = self._name(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0

        def listing() -> list[str]:
            blobs = self._client.list_blobs(
                self._bucket, prefix=full_prefix, timeout=self._timeout, retry=self._retry
            )
            return sorted(blob.name[strip:] for blob in blobs)

        return self._call("list", prefix, listing)


def _content_type(key: str) -> str:
    if key.endswith(".json"):
        return "application/json"
    if key.endswith(".csv"):
        return "text/csv"
    return "application/octet-stream"


def open_store(uri: str | os.PathLike[str], *, timeout: float | None = None) -> Store:
    """Open the store a URI names: ``gs://bucket[/prefix]`` or a local folder path.

    A bucket's per-call timeout is ``timeout``, or else the configured one
    (``PIPELINE_STORE_TIMEOUT``, read here so no caller has to pass it).
    """
    if timeout is None:  # checked for a folder too: a bad setting is refused, not ignored
        from heartml import config  # here: config's checks reach back into the registry

        timeout = config.store_timeout()
    uri = os.fspath(uri)
    if not uri or not uri.strip():
        raise ConfigError("the store URI is empty: give gs://BUCKET[/PREFIX] or a folder path")
    uri = uri.strip()
    if uri.startswith("gs://"):
        bucket, _, prefix = uri[len("gs://") :].partition("/")
        if not bucket:
            raise ConfigError(f"store URI {uri!r} names no bucket: use gs://BUCKET[/PREFIX]")
        return GCSStore(bucket, prefix, timeout=timeout)
    if "://" in uri:
        raise ConfigError(f"store URI {uri!r} is neither gs:// nor a local folder path")
    return LocalStore(uri)


@functools.cache
def shared_store(uri: str, timeout: float) -> Store:
    """One store (and storage client) per process for a long-lived server, not one per call."""
    return open_store(uri, timeout=timeout)
