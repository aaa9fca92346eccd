"""Settings: flag, then environment, then default; bad values are named."""

from __future__ import annotations

import re

import pytest

from heartml import config
from heartml.errors import ConfigError

CLEAN = {
    "PIPELINE_STORE": None,
    "PIPELINE_RUN_ID": None,
    "GITHUB_RUN_ID": None,
    "GITHUB_RUN_ATTEMPT": None,
}


def _set_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None]) -> None:
    for name, value in {**CLEAN, **env}.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        (None, {}, "local-store"),
        (None, {"PIPELINE_STORE": "gs://b/p"}, "gs://b/p"),
        ("elsewhere", {"PIPELINE_STORE": "gs://b/p"}, "elsewhere"),
    ],
)
def test_store_uri_prefers_flag_then_environment(monkeypatch, flag, env, expected) -> None:
    _set_env(monkeypatch, env)
    assert config.store_uri(flag) == expected


@pytest.mark.parametrize(
    ("flag", "env", "expected"),
    [
        ("given", {"PIPELINE_RUN_ID": "env-id", "GITHUB_RUN_ID": "7"}, "given"),
        (None, {"PIPELINE_RUN_ID": "env-id", "GITHUB_RUN_ID": "7"}, "env-id"),
        (None, {"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2"}, "123-2"),
        (None, {"GITHUB_RUN_ID": "123"}, "123-1"),
    ],
)
def test_run_id_sources_in_order(monkeypatch, flag, env, expected) -> None:
    _set_env(monkeypatch, env)
    assert config.run_id(flag) == expected


def test_local_run_ids_are_unique_and_timestamped(monkeypatch) -> None:
    _set_env(monkeypatch, {})
    first, second = config.run_id(), config.run_id()
    assert re.fullmatch(r"local-\d{8}T\d{6}Z-[0-9a-f]{6}", first)
    assert first != second


@pytest.mark.parametrize("bad", ["../escape", "a/b", "-starts-with-dash", "x" * 129, "sp ace"])
def test_run_ids_that_would_break_a_key_are_refused(monkeypatch, bad) -> None:
    _set_env(monkeypatch, {"PIPELINE_RUN_ID": bad})
    with pytest.raises(ConfigError, match="run id"):
        config.run_id()


@pytest.mark.parametrize(("raw", "ok"), [("5", True), ("0.5", True), ("0", False), ("soon", False)])
def test_store_timeout_is_checked(monkeypatch, raw, ok) -> None:
    monkeypatch.setenv("PIPELINE_STORE_TIMEOUT", raw)
    if ok:
        assert config.store_timeout() == float(raw)
    else:
        with pytest.raises(ConfigError, match="PIPELINE_STORE_TIMEOUT"):
            config.store_timeout()
