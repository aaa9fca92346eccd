"""Cloud Function source: predictions from the live model, and the pipeline's event consumers.

Entry points: ``predict_handler`` (HTTP), ``on_dataset_uploaded`` and
``on_metrics_uploaded`` (CloudEvents from Cloud Storage; see heartml/events.py).

The model is loaded once per instance, at cold start, from the store named by
``$PIPELINE_STORE`` (unset: the local loop's ``local-store`` folder, so a laptop serves
what is live there, never an unpublished candidate from ``artifacts/``). Two ideas are kept
apart: the *promoted* version (the store's record, ``models/latest.json``, which a
rollback changes at once) and the *served* one (the deployed revision's pin,
``SERVED_RUN_ID`` and ``SERVED_MODEL_SHA256``, which only a deploy changes). An
instance serves ``models/latest.joblib`` only if its sha256 is the pinned one, and
otherwise the pinned archived version (heartml.serving). GET shows both. If no model
can be loaded the instance stays up, reports it on GET and answers 503 with the
reason, rather than crash-looping or serving something unchecked. See openapi.yaml.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from typing import Any

import flask
import functions_framework
from werkzeug.exceptions import HTTPException

from heartml import config, events, logs, monitoring, registry, server, serving
from heartml.errors import (
    ConfigError,
    ModelLoadError,
    ObjectNotFound,
    PipelineError,
    RequestError,
)
from heartml.store import open_store, shared_store

logs.configure()
log = logging.getLogger("main")
server.install()  # bounded request reading and JSON refusals (heartml.server)

ALLOWED_METHODS = "GET, HEAD, POST"
# Methods a log line names; any other token a client sends is its own text, logged as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})
# GET reads the store's record of the promoted version; a health check must not hang on it.
PROMOTED_READ_TIMEOUT_SECONDS = 5.0


def _load_served_model() -> tuple[serving.LoadedModel | None, str | None]:
    try:
        pin = serving.Pin.from_environment(os.environ)
        store = open_store(config.store_uri())
        try:
            model = serving.load_from_store(store, pin)
        except ObjectNotFound:
            raise ModelLoadError(
                f"no model has been promoted in {store.uri} yet (run `make local`, or set "
                f"{config.STORE_ENV})"
            ) from None
        model.metrics = _metrics(lambda: registry.read_metrics(store, model.run_id))
        return model, None
    except PipelineError as exc:
        log.error("model not loaded: %s", exc)
        return None, str(exc)


def _metrics(read: Any) -> dict[str, Any] | None:
    """Read the live version's metrics for GET; a model without them is still served."""
    try:
        return read()
    except (PipelineError, OSError, ValueError) as exc:
        log.warning("metrics of the live model not available: %s", exc)
        return None


# Read once: a malformed value stops the instance at start, naming the variable.
MAX_MISSING_SHARE = config.get("SERVE_MAX_MISSING_SHARE")
if not 0 <= MAX_MISSING_SHARE <= 1:
    raise ConfigError(f"SERVE_MAX_MISSING_SHARE={MAX_MISSING_SHARE} must be between 0 and 1")

# Cloud Functions names the entry point in FUNCTION_TARGET; the event consumers,
# deployed from this same source, have no use for the model.
SERVES_PREDICTIONS = os.environ.get("FUNCTION_TARGET", "predict_handler") == "predict_handler"
if SERVES_PREDICTIONS:
    MODEL, MODEL_ERROR = _load_served_model()
else:
    MODEL, MODEL_ERROR = None, "this instance serves events, not predictions"


def _monitor_for(model: serving.LoadedModel | None) -> monitoring.Monitor | None:
    """The traffic monitor of the served version (heartml.monitoring), unless turned off."""
    if model is None or not config.get("MONITOR_ENABLED"):
        return None
    bins = monitoring.bins_of(model.metadata)
    return monitoring.Monitor(
        model.run_id,
        bins,
        every_requests=config.get("MONITOR_EVERY_REQUESTS"),
        every_seconds=config.get("MONITOR_EVERY_SECONDS"),
        min_records=config.get("MONITOR_MIN_BIN_COUNT"),
    )


MONITOR = _monitor_for(MODEL)


def _flush_monitor(reason: str) -> None:
    if MONITOR is not None:
        MONITOR.flush(reason)


if SERVES_PREDICTIONS:
    # The last window is flushed by the process that served it: gunicorn's worker runs
    # the hook on SIGTERM after its requests in flight (heartml.server); ``atexit``
    # covers any other exit. Flushing empties the window, so it is never written twice.
    server.at_shutdown(lambda: _flush_monitor("shutdown"))
    atexit.register(_flush_monitor, "shutdown")
PINNED = bool(os.environ.get(serving.SERVED_RUN_ID_ENV))
# A failed load is tried again on a later request (no thread: CPU is throttled between
# requests), after 1, 2, 4 ... 60 s; until then the instance answers 503 with Retry-After.
RETRY_MAX_SECONDS = 60.0
_retry = {"attempts": 1, "next_at": time.monotonic() + 1.0}
_retry_lock = threading.Lock()


def _retry_in() -> int:
    """Seconds until the next load attempt (for Retry-After), at least 1."""
    return max(1, math.ceil(_retry["next_at"] - time.monotonic()))


def _ensure_model() -> None:
    """Try the load again if one failed and its backoff is over; one request does it."""
    global MODEL, MODEL_ERROR, MONITOR
    if MODEL is not None or not SERVES_PREDICTIONS or time.monotonic() < _retry["next_at"]:
        return
    if not _retry_lock.acquire(blocking=False):
        return  # another request is loading it
    try:
        model, error = _load_served_model()
        if model is not None:
            MODEL, MODEL_ERROR = model, None
            MONITOR = _monitor_for(model)
            log.info("model loaded after %d failed attempt(s)", _retry["attempts"])
            return
        MODEL_ERROR = error
        _retry["attempts"] += 1
        delay = min(RETRY_MAX_SECONDS, 2.0 ** (_retry["attempts"] - 1))
        _retry["next_at"] = time.monotonic() + delay
    finally:
        _retry_lock.release()


def _install_error_handling() -> None:
    """Answer framework-level failures in JSON, and keep request bytes out of the logs.

    A malformed body (say a broken ``Transfer-Encoding: chunked``) fails inside the
    server before or after the handler; Flask would answer an HTML 500 and log a
    traceback quoting the offending bytes. The app is reachable here because
    functions-framework imports this module inside its application context.
    """
    if not flask.has_app_context():
        return
    app = flask.current_app._get_current_object()
    app.logger.disabled = True  # its tracebacks quote request bytes; _framework_error logs
    app.register_error_handler(Exception, _framework_error)
    app.register_error_handler(500, _framework_error)


def _framework_error(exc: Exception) -> tuple[dict[str, Any], int]:
    original = getattr(exc, "original_exception", None) or exc
    if isinstance(original, HTTPException) and (original.code or 500) < 500:
        log.warning("request refused by the framework: %s", type(original).__name__)
        return _error("request", original.name.lower(), original.code or 400)
    if type(original).__module__.startswith(("gunicorn.http", "werkzeug")):
        # The exception's type only: its text may quote the request's bytes.
        log.warning("request body unreadable: %s", type(original).__name__)
        return _error("body", "could not be read: the request is malformed", 400)
    if isinstance(original, PipelineError):
        # Our own messages name no request data (an event consumer asking for redelivery).
        log.error("%s: %s", type(original).__name__, original)
    else:
        log.error("unexpected %s while serving a request", type(original).__name__)
    return _error("server", "internal error", 500)


_install_error_handling()


def _error(
    field: str, message: str, status: int, problems: list[tuple[str, str]] | None = None
) -> tuple[dict[str, Any], int]:
    return serving.error_body(field, message, problems), status


def _request_error(exc: RequestError) -> tuple[dict[str, Any], int]:
    return _error(exc.field, exc.problem, exc.status, exc.problems)


def _promoted() -> dict[str, Any] | None:
    """The store's record of the promoted version, read now (a rollback changes it at once)."""
    try:
        timeout = min(PROMOTED_READ_TIMEOUT_SECONDS, config.store_timeout())
        pointer = registry.live_pointer(shared_store(config.store_uri(), timeout))
    except PipelineError as exc:
        log.warning("the promoted version could not be read: %s", exc)
        return None
    if not isinstance(pointer, dict):
        return None
    record = {k: pointer.get(k) for k in ("run_id", "model_sha256", "promoted_at", "reason")}
    if not all(isinstance(v, str | None) for v in record.values()):
        return None
    return {**record, "is_served": MODEL is not None and record["model_sha256"] == MODEL.sha256}


def _health() -> tuple[dict[str, Any], int]:
    if MODEL is None:
        return {
            "status": "unavailable",
            "error": _error("model", MODEL_ERROR or "not loaded", 503)[0]["error"],
            "retry": {"attempts": _retry["attempts"], "next_in_seconds": _retry_in()},
            "promoted": _promoted(),
        }, 503
    metrics = MODEL.metrics or {}
    return {
        "status": "ok",
        "model": {
            **MODEL.identity(),
            "sha256": MODEL.sha256,
            "file": MODEL.source,
            "pinned": PINNED,
            "notes": MODEL.notes,
            "dataset_sha256": MODEL.metadata.get("dataset_sha256"),
            "fast_path": MODEL.scorer is not None,
            "label_coding": MODEL.label_coding,
            "metrics": {
                k: metrics.get(k) for k in ("acc", "val_acc", "roc_auc", "n_train", "n_val")
            }
            if metrics
            else None,
        },
        "promoted": _promoted(),
        "limits": {"max_batch": serving.MAX_BATCH, "max_body_bytes": serving.MAX_BODY_BYTES},
    }, 200


def _predict(
    request: flask.Request,
) -> tuple[dict[str, Any], int, serving.ParsedRequest | None]:
    """Answer a POST; the parsed request comes back too, for the traffic monitor."""
    if MODEL is None:
        return *_error("model", f"no model is loaded: {MODEL_ERROR}", 503), None
    if request.mimetype != "application/json":
        return *_error("Content-Type", "must be application/json", 415), None
    if (request.content_length or 0) > serving.MAX_BODY_BYTES:
        return *_error("body", f"is larger than {serving.MAX_BODY_BYTES} bytes", 413), None
    try:
        raw = request.stream.read(serving.MAX_BODY_BYTES + 1)
    except Exception as exc:  # the server's body parser: a malformed chunked body, a cut upload
        log.warning("request body unreadable: %s", type(exc).__name__)
        return *_error("body", "could not be read: the request is malformed", 400), None
    if len(raw) > serving.MAX_BODY_BYTES:
        return *_error("body", f"is larger than {serving.MAX_BODY_BYTES} bytes", 413), None
    if not raw.strip():
        return *_error("body", 'is empty; send a JSON record or {"instances": [...]}', 400), None
    try:
        body = serving.parse_json(raw)
    except RequestError as exc:
        return *_request_error(exc), None
    except (ValueError, RecursionError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        return *_error("body", f"is not valid JSON{where}", 400), None
    try:
        explain = serving.parse_explain_query(request.args.get("explain"))
        parsed = serving.parse_request(body, MAX_MISSING_SHARE, explain)
        return serving.predict(MODEL, parsed), 200, parsed
    except RequestError as exc:
        return *_request_error(exc), None


def _loggable(error: dict[str, Any]) -> str:
    """An error as its log line shows it: a caller's own key is counted, never written."""
    field = monitoring.known_field(error["field"]) and error["field"]
    unknown = sum(monitoring.known_field(p["field"]) is None for p in error["problems"])
    counted = f" ({unknown} unknown field{'s' * (unknown != 1)})" if unknown else ""
    return f" {field or 'an unknown field'}: {error['message']}{counted}"


@functions_framework.http
def predict_handler(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """POST: predict one record or a batch. GET: health and the live model's metadata."""
    started = time.perf_counter()
    headers = {}
    parsed = None
    _ensure_model()
    if request.path != "/":
        # Not echoed: a path is the caller's text, and the summary below is logged.
        body, status = _error("path", "is not served: POST predictions to /, GET / for health", 404)
    elif request.method == "POST":
        body, status, parsed = _predict(request)
    elif request.method in ("GET", "HEAD"):
        body, status = _health()
    else:
        body, status = _error("method", "is not allowed; use GET or POST", 405)
        headers["Allow"] = ALLOWED_METHODS
    if status == 503 and MODEL is None and SERVES_PREDICTIONS:
        headers["Retry-After"] = str(_retry_in())
    error = body.get("error") if status >= 400 else None
    method = request.method if request.method in HTTP_METHODS else "other"
    summary = f"{method} {status}" + (_loggable(error) if error else "")
    latency = time.perf_counter() - started
    logs.log_request(
        summary, method, status, latency, request.content_length,
        MODEL.run_id if MODEL else None,
    )  # fmt: skip
    if MONITOR is not None and request.method == "POST":
        answered = parsed is not None and status == 200
        MONITOR.record(
            status,
            latency,
            error["field"] if error else None,
            parsed.records if answered else None,
            [p["probability"] for p in body["predictions"]] if answered else None,
        )
    return body, status, headers


@functions_framework.cloud_event
def on_dataset_uploaded(cloud_event: Any) -> None:
    """Run the "Train and Deploy" workflow when the pipeline's dataset.csv is written.

    Raising (a 5xx to Eventarc) only when GitHub stayed unreachable: a redelivery may work.
    """
    events.handle_dataset_uploaded(cloud_event)


@functions_framework.cloud_event
def on_metrics_uploaded(cloud_event: Any) -> None:
    """Post to Slack when a new version is below a floor, fell, or was held back."""
    events.handle_metrics_uploaded(cloud_event)
