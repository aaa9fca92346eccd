"""The event consumers: CloudEvents POSTed to functions-framework serving main.py.

GitHub's API and Slack's webhook are real HTTP servers on loopback
(pytest-httpserver) that record what they receive.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from google.cloud import storage
from pytest_httpserver import HTTPServer
from werkzeug import Response

from heartml.ops.events import FINALIZED
from heartml.store import registry
from heartml.store.backends import open_store
from heartml.store.model_file import metrics_json
from tests.helpers import BUCKET, DATASET, ServedFunction, free_port, serve_function, stop_function

TOKEN = "ghp_test_token_that_must_never_be_logged"
DISPATCH_PATH = "/repos/owner/repo/dispatches"


def finalize_event(uri: str, key: str, event_id: str) -> CloudEvent:
    """The event Eventarc delivers for an object, built from the object's real metadata."""
    store = open_store(uri)
    name = f"{store.prefix}/{key}"
    blob = storage.Client(project="local-emulator").bucket(BUCKET).get_blob(name)
    attributes = {
        "type": FINALIZED,
        "source": f"//storage.googleapis.com/projects/_/buckets/{BUCKET}",
        "subject": f"objects/{name}",
        "id": event_id,
    }
    return CloudEvent(attributes, blob._properties)


def deliver(function: ServedFunction, event: CloudEvent, mode: str = "binary") -> requests.Response:
    headers, body = (to_binary if mode == "binary" else to_structured)(event)
    return requests.post(function.url, headers=headers, data=body, timeout=30)


@pytest.fixture
def dataset_function(tmp_path, gcs_uri, httpserver: HTTPServer) -> Iterator[ServedFunction]:
    function = serve_function(
        tmp_path,
        target="on_dataset_uploaded",
        FUNCTION_TARGET="on_dataset_uploaded",
        PIPELINE_STORE=gcs_uri,
        GITHUB_API_URL=httpserver.url_for("/").rstrip("/"),
        GITHUB_REPOSITORY="owner/repo",
        GITHUB_TOKEN=TOKEN,
        NOTIFY_RETRY_ATTEMPTS="3",
        NOTIFY_RETRY_BASE_SECONDS="0.01",
        NOTIFY_TIMEOUT_SECONDS="0.3",
    )
    yield function
    stop_function(function.process)


def _dispatches(httpserver: HTTPServer) -> list:
    return [request for request, _ in httpserver.log if request.path == DISPATCH_PATH]


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_new_dataset_dispatches_the_workflow(dataset_function, gcs_uri, httpserver, mode) -> None:
    httpserver.expect_request(DISPATCH_PATH, method="POST").respond_with_data("", status=204)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", f"evt-{mode}")

    assert deliver(dataset_function, event, mode).status_code == 200
    [request] = _dispatches(httpserver)
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["X-GitHub-Api-Version"] == "2022-11-28"
    generation = event.data["generation"]
    assert request.get_json() == {
        "event_type": "dataset-updated",
        "client_payload": {
            "bucket": BUCKET,
            "object": event.data["name"],
            "generation": generation,
        },
    }
    assert TOKEN not in dataset_function.log()


def test_a_redelivered_event_does_not_dispatch_twice(dataset_function, gcs_uri, httpserver) -> None:
    httpserver.expect_request(DISPATCH_PATH, method="POST").respond_with_data("", status=204)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-once")
    assert deliver(dataset_function, event).status_code == 200
    assert deliver(dataset_function, event, "structured").status_code == 200
    assert len(_dispatches(httpserver)) == 1
    assert "already handled" in dataset_function.log()


@pytest.mark.parametrize("key", ["models/latest.joblib", "models/metrics/1-1.json", "other.csv"])
def test_other_objects_are_acknowledged_and_ignored(
    dataset_function, gcs_uri, httpserver, key
) -> None:
    open_store(gcs_uri).write_bytes(key, b"x")
    assert deliver(dataset_function, finalize_event(gcs_uri, key, f"evt-{key}")).status_code == 200
    assert httpserver.log == []


def test_an_event_of_unknown_shape_is_logged_and_acknowledged(dataset_function, httpserver) -> None:
    odd = CloudEvent({"type": "com.example.other", "source": "//x", "id": "odd-1"}, {"x": 1})
    no_name = CloudEvent({"type": FINALIZED, "source": "//x", "id": "odd-2"}, {"bucket": BUCKET})
    assert deliver(dataset_function, odd).status_code == 200
    assert deliver(dataset_function, no_name).status_code == 200
    assert httpserver.log == []
    assert dataset_function.log().count("ignored an event of unknown shape") == 2


def test_a_5xx_is_retried_then_succeeds(dataset_function, gcs_uri, httpserver) -> None:
    httpserver.expect_ordered_request(DISPATCH_PATH).respond_with_data("busy", status=502)
    httpserver.expect_ordered_request(DISPATCH_PATH).respond_with_data("", status=204)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    assert (
        deliver(dataset_function, finalize_event(gcs_uri, "dataset.csv", "evt-retry")).status_code
        == 200
    )
    assert [response.status_code for _, response in httpserver.log] == [502, 204]


def test_a_downstream_that_stays_down_gets_the_event_back_for_redelivery(
    dataset_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_data("down", status=503)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-down")
    assert deliver(dataset_function, event).status_code == 500
    assert len(httpserver.log) == 3  # NOTIFY_RETRY_ATTEMPTS
    assert "unavailable after 3 attempt(s): HTTP 503" in dataset_function.log()
    # No marker was written, so Eventarc's redelivery is handled once GitHub is back.
    httpserver.clear()
    httpserver.expect_request(DISPATCH_PATH).respond_with_data("", status=204)
    assert deliver(dataset_function, event).status_code == 200
    assert len(_dispatches(httpserver)) == 1


def test_a_timeout_is_retried_within_a_bounded_time(dataset_function, gcs_uri, httpserver) -> None:
    def slow(_request):
        time.sleep(1.0)
        return Response("", status=204)

    httpserver.expect_request(DISPATCH_PATH).respond_with_handler(slow)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    answer = deliver(dataset_function, finalize_event(gcs_uri, "dataset.csv", "evt-slow"))
    assert answer.status_code == 500
    assert "unavailable after 3 attempt(s): no complete answer within" in dataset_function.log()
    # The stand-in is still sleeping through the attempts the function gave up on: let it
    # finish, or its late answers are logged in the next test's server log.
    deadline = time.monotonic() + 10
    while len(httpserver.log) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the stand-in's own log against a deadline
    assert len(httpserver.log) == 3


def test_a_refused_connection_is_retried_then_handed_back(tmp_path, gcs_uri) -> None:
    function = serve_function(
        tmp_path, target="on_dataset_uploaded", FUNCTION_TARGET="on_dataset_uploaded",
        PIPELINE_STORE=gcs_uri, GITHUB_API_URL=f"http://127.0.0.1:{free_port()}",
        GITHUB_REPOSITORY="owner/repo", GITHUB_TOKEN=TOKEN,
        NOTIFY_RETRY_ATTEMPTS="2", NOTIFY_RETRY_BASE_SECONDS="0.01",
    )  # fmt: skip
    try:
        open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
        answer = deliver(function, finalize_event(gcs_uri, "dataset.csv", "evt-refused"))
    finally:
        stop_function(function.process)
    assert answer.status_code == 500
    assert "unavailable after 2 attempt(s): ConnectionError" in function.log()


def test_a_refusal_by_github_is_not_retried_nor_handed_back(
    dataset_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_json(
        {"message": "Bad credentials"}, status=401
    )
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    assert (
        deliver(dataset_function, finalize_event(gcs_uri, "dataset.csv", "evt-401")).status_code
        == 200
    )
    assert len(httpserver.log) == 1
    assert "GitHub refused the dispatch for owner/repo: HTTP 401" in dataset_function.log()
    assert TOKEN not in dataset_function.log()


def test_end_to_end_an_upload_to_the_bucket_reaches_the_workflow(
    dataset_function, gcs_uri, httpserver
) -> None:
    """Publish new data with the step a user runs; deliver the event its upload produces."""
    from tests.helpers import call_step

    httpserver.expect_request(DISPATCH_PATH).respond_with_data("", status=204)
    assert (
        call_step("upload_dataset", "--source", str(DATASET), PIPELINE_STORE=gcs_uri).returncode
        == 0
    )
    event = finalize_event(gcs_uri, "dataset.csv", "evt-e2e")
    assert deliver(dataset_function, event).status_code == 200
    payload = _dispatches(httpserver)[0].get_json()["client_payload"]
    blob = storage.Client(project="x").bucket(BUCKET).get_blob(event.data["name"])
    assert payload == {"bucket": BUCKET, "object": blob.name, "generation": str(blob.generation)}
    workflow = (Path(__file__).parents[2] / ".github" / "workflows" / "pipeline.yml").read_text()
    assert "repository_dispatch:\n    types: [dataset-updated]" in workflow


def _metrics(
    run_id: str, timestamp: str, roc_auc: float, val_acc: float, passed: bool = True
) -> dict:
    return {
        "run_id": run_id, "timestamp": timestamp, "roc_auc": roc_auc, "val_acc": val_acc,
        "dataset": {"rows": 303}, "model_sha256": run_id,
        "gate": {"passed": passed, "reasons": [] if passed else ["roc_auc 0.7000 < floor 0.8"]},
    }  # fmt: skip


@pytest.fixture
def metrics_function(tmp_path, gcs_uri, httpserver: HTTPServer) -> Iterator[ServedFunction]:
    function = serve_function(
        tmp_path, target="on_metrics_uploaded", FUNCTION_TARGET="on_metrics_uploaded",
        PIPELINE_STORE=gcs_uri, SLACK_WEBHOOK_URL=httpserver.url_for("/services/T0/B0/secret"),
        GITHUB_REPOSITORY="owner/repo", NOTIFY_RETRY_BASE_SECONDS="0.01",
    )  # fmt: skip
    yield function
    stop_function(function.process)


def _land(uri: str, metrics: dict) -> CloudEvent:
    key = registry.metrics_key(metrics["run_id"])
    open_store(uri).write_bytes(key, metrics_json(metrics))
    return finalize_event(uri, key, f"evt-{metrics['run_id']}")


def test_a_drop_against_the_previous_version_posts_to_slack(
    metrics_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request("/services/T0/B0/secret", method="POST").respond_with_data("ok")
    assert (
        deliver(
            metrics_function, _land(gcs_uri, _metrics("100-1", "2026-11-01T08:00:00Z", 0.93, 0.88))
        ).status_code
        == 200
    )
    assert httpserver.log == []  # a healthy first version is quiet

    event = _land(gcs_uri, _metrics("101-1", "2026-11-02T08:00:00Z", 0.89, 0.87))
    assert deliver(metrics_function, event).status_code == 200
    assert deliver(metrics_function, event).status_code == 200  # redelivered: not posted twice
    [(request, _)] = httpserver.log
    message = request.get_json()
    assert "Heart-disease model run 101-1 needs a look" in message["text"]
    assert "roc_auc fell 0.0400 against 100-1 (0.9300 → 0.8900)" in message["text"]
    assert "https://github.com/owner/repo/actions/runs/101/attempts/1" in message["text"]
    assert message["blocks"][0]["type"] == "header"
    assert "secret" not in metrics_function.log()


def test_a_held_back_or_weak_version_posts_its_reasons(
    metrics_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request("/services/T0/B0/secret").respond_with_data("ok")
    event = _land(gcs_uri, _metrics("102-1", "2026-11-03T08:00:00Z", 0.70, 0.70, passed=False))
    assert deliver(metrics_function, event).status_code == 200
    text = httpserver.log[0][0].get_json()["text"]
    assert "roc_auc 0.7000 is below 0.8" in text
    assert "val_acc 0.7000 is below 0.75" in text
    assert "the gate held it back: roc_auc 0.7000 < floor 0.8" in text


def test_slack_down_hands_the_event_back(metrics_function, gcs_uri, httpserver) -> None:
    httpserver.expect_request("/services/T0/B0/secret").respond_with_data("no", status=500)
    event = _land(gcs_uri, _metrics("103-1", "2026-11-04T08:00:00Z", 0.70, 0.70))
    assert deliver(metrics_function, event).status_code == 500
    assert len(httpserver.log) == 4  # the default of four attempts
    assert "/services/T0/B0/secret" not in metrics_function.log()


def test_a_429_with_retry_after_is_retried_not_acknowledged(
    dataset_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_ordered_request(DISPATCH_PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "0"}
    )
    httpserver.expect_ordered_request(DISPATCH_PATH).respond_with_data(
        "rate limited", status=403, headers={"x-ratelimit-remaining": "0"}
    )
    httpserver.expect_ordered_request(DISPATCH_PATH).respond_with_data("", status=204)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-429")
    assert deliver(dataset_function, event).status_code == 200
    assert [response.status_code for _, response in httpserver.log] == [429, 403, 204]


def test_a_retry_after_beyond_the_budget_hands_the_event_back(
    dataset_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_data(
        "", status=429, headers={"Retry-After": "3600"}
    )
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-later")
    assert deliver(dataset_function, event).status_code == 500  # Eventarc redelivers later
    assert len(httpserver.log) == 1


def test_a_redirect_loop_is_refused_and_acknowledged(dataset_function, gcs_uri, httpserver):
    httpserver.expect_request(DISPATCH_PATH).respond_with_data(
        "", status=307, headers={"Location": DISPATCH_PATH}
    )
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-loop")
    assert deliver(dataset_function, event).status_code == 200
    assert "redirects in a loop" in dataset_function.log()


@pytest.mark.parametrize(
    ("setting", "value", "secret"),
    [
        ("GITHUB_TOKEN", "ghp_secret_with_a_bad\ncharacter", "ghp_secret_with_a_bad"),
        ("GITHUB_API_URL", "api.github.example/secret-path-9876", "secret-path-9876"),
    ],
)
def test_a_misconfigured_secret_never_reaches_a_log(
    tmp_path, gcs_uri, setting, value, secret
) -> None:
    env = {
        "FUNCTION_TARGET": "on_dataset_uploaded",
        "PIPELINE_STORE": gcs_uri,
        "GITHUB_API_URL": "http://127.0.0.1:9",
        "GITHUB_REPOSITORY": "owner/repo",
        "GITHUB_TOKEN": TOKEN,
        setting: value,
    }
    function = serve_function(tmp_path, target="on_dataset_uploaded", **env)
    try:
        open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
        event = finalize_event(gcs_uri, "dataset.csv", f"evt-{setting}")
        assert deliver(function, event).status_code == 200  # refused, acknowledged
    finally:
        stop_function(function.process)
    log = function.log()
    assert "not sent" in log or "refused" in log
    assert secret not in log and TOKEN not in log


def test_a_trailing_newline_on_the_token_is_forgiven(tmp_path, gcs_uri, httpserver) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_data("", status=204)
    function = serve_function(
        tmp_path, target="on_dataset_uploaded", FUNCTION_TARGET="on_dataset_uploaded",
        PIPELINE_STORE=gcs_uri, GITHUB_API_URL=httpserver.url_for("/").rstrip("/"),
        GITHUB_REPOSITORY="owner/repo", GITHUB_TOKEN=TOKEN + "\n",
    )  # fmt: skip
    try:
        open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
        assert (
            deliver(function, finalize_event(gcs_uri, "dataset.csv", "evt-nl")).status_code == 200
        )
    finally:
        stop_function(function.process)
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "content", [b"[1, 2]", b'{"run_id": "bad-1", "roc_auc": "high"}', b"{", None]
)
def test_a_poison_metrics_event_is_logged_once_and_acknowledged(
    metrics_function, gcs_uri, httpserver, content
) -> None:
    httpserver.expect_request("/services/T0/B0/secret").respond_with_data("ok")
    store = open_store(gcs_uri)
    key = registry.metrics_key("bad-1")
    store.write_bytes(key, content or b"{}")
    event = finalize_event(gcs_uri, key, "evt-poison")
    if content is None:  # deleted before delivery
        storage.Client(project="x").bucket(BUCKET).blob(f"{store.prefix}/{key}").delete()
    assert deliver(metrics_function, event).status_code == 200
    assert deliver(metrics_function, event).status_code == 200
    # Other alerts still flow.
    weak = _land(gcs_uri, _metrics("104-1", "2026-11-05T08:00:00Z", 0.70, 0.70))
    assert deliver(metrics_function, weak).status_code == 200
    assert len(httpserver.log) == 1
    if content is not None:
        assert metrics_function.log().count("ignored event evt-poison") == 1


def test_a_dripping_downstream_cannot_hold_a_delivery_past_the_budget(tmp_path, gcs_uri) -> None:
    """A server that sends its answer one byte at a time: each read is quick, the whole is not."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        listener.settimeout(30)
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                for byte in b"HTTP/1.1 204 No Content\r\nX-Slow: " + b"." * 100:
                    if stop.wait(0.2):  # one byte every 0.2 s, well inside the read timeout
                        break
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=drip, daemon=True)
    thread.start()
    function = serve_function(
        tmp_path, target="on_dataset_uploaded", FUNCTION_TARGET="on_dataset_uploaded",
        PIPELINE_STORE=gcs_uri, GITHUB_API_URL=f"http://127.0.0.1:{port}",
        GITHUB_REPOSITORY="owner/repo", GITHUB_TOKEN=TOKEN, NOTIFY_RETRY_ATTEMPTS="1",
        NOTIFY_TIMEOUT_SECONDS="1", NOTIFY_BUDGET_SECONDS="2",
    )  # fmt: skip
    try:
        open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
        started = time.monotonic()
        answer = deliver(function, finalize_event(gcs_uri, "dataset.csv", "evt-drip"))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        stop_function(function.process)
        listener.close()
    assert answer.status_code == 500  # handed back for redelivery
    assert elapsed < 10, elapsed  # the drip alone would take 20 s
    assert "no complete answer within" in function.log()


def test_a_fresh_claim_hands_a_concurrent_delivery_back_and_a_stale_one_is_taken_over(
    dataset_function, gcs_uri, httpserver
) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_data("", status=204)
    store = open_store(gcs_uri)
    store.write_bytes("dataset.csv", DATASET.read_bytes())
    claim = registry.event_marker_key("dataset", "evt-claimed") + ".claim"
    store.write_bytes(claim, json.dumps({"claimed_at": time.time()}).encode())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-claimed")
    assert deliver(dataset_function, event).status_code == 500  # another delivery is sending
    assert _dispatches(httpserver) == []
    # Its holder was killed long ago: the claim is stale, the event is not lost.
    store.write_bytes(claim, json.dumps({"claimed_at": time.time() - 3600}).encode())
    assert deliver(dataset_function, event).status_code == 200
    assert len(_dispatches(httpserver)) == 1
    assert not store.exists(claim)
    assert deliver(dataset_function, event).status_code == 200  # done: not sent again
    assert len(_dispatches(httpserver)) == 1


@pytest.mark.parametrize("planted", [b'{"claimed_at": 1e300}', b'{"claimed_at": Infinity}'])
def test_a_claim_from_the_future_cannot_block_an_event_forever(
    dataset_function, gcs_uri, httpserver, planted
) -> None:
    httpserver.expect_request(DISPATCH_PATH).respond_with_data("", status=204)
    store = open_store(gcs_uri)
    store.write_bytes("dataset.csv", DATASET.read_bytes())
    event_id = f"evt-future-{len(planted)}"
    store.write_bytes(registry.event_marker_key("dataset", event_id) + ".claim", planted)
    event = finalize_event(gcs_uri, "dataset.csv", event_id)
    assert deliver(dataset_function, event).status_code == 200
    assert len(_dispatches(httpserver)) == 1


def test_two_deliveries_at_once_send_once(dataset_function, gcs_uri, httpserver) -> None:
    """The first delivery's call is held open until the second has been answered."""
    import threading

    second_answered = threading.Event()

    def slow_github(_request):
        second_answered.wait(30)
        return Response(status=204)

    httpserver.expect_request(DISPATCH_PATH).respond_with_handler(slow_github)
    open_store(gcs_uri).write_bytes("dataset.csv", DATASET.read_bytes())
    event = finalize_event(gcs_uri, "dataset.csv", "evt-twice")
    first: dict = {}
    worker = threading.Thread(target=lambda: first.update(r=deliver(dataset_function, event)))
    worker.start()
    claim = registry.event_marker_key("dataset", "evt-twice") + ".claim"
    store = open_store(gcs_uri)
    for _ in range(300):  # until the first delivery holds its claim (polled, with a bound)
        if store.exists(claim):
            break
        time.sleep(0.05)
    second = deliver(dataset_function, event)
    second_answered.set()
    worker.join(30)
    assert second.status_code == 500 and first["r"].status_code == 200
    assert len(_dispatches(httpserver)) == 1
