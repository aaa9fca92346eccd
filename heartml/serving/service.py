"""The function's serving side as one object: the served model, its monitor, its answers.

One ``PredictionService`` per serving process, made in that process (``PerProcess``):
gunicorn's worker makes it when it starts (``process_hooks.at_worker_start``), before it
accepts a request, and a process serving without gunicorn (Flask's test client, a
benchmark) on its first request. The master that imports main.py never loads a model,
and no state is shared across a fork.

The model is loaded once, from the store named by ``$PIPELINE_STORE``. Two ideas are kept
apart: the *promoted* version (the store's record, ``models/latest.json``, which a
rollback changes at once) and the *served* one (the deployed revision's pin,
``SERVED_RUN_ID`` and ``SERVED_MODEL_SHA256``, which only a deploy changes); GET shows
both. If no model can be loaded the instance stays up, says why on GET, answers 503 with
Retry-After, and tries again on a later request after 1, 2, 4 ... 60 s (no thread: CPU is
throttled between requests). The traffic window is flushed by the process that served
it, at shutdown.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from heartml import config, logs
from heartml.errors import ConfigError, ModelLoadError, ObjectNotFound, PipelineError, RequestError
from heartml.serving import api, process_hooks, served_model, traffic_monitor
from heartml.serving.traffic_bins import bins_of
from heartml.store import registry
from heartml.store.backends import open_store, shared_store

log = logging.getLogger("main")  # the name the function's log lines have always carried

ALLOWED_METHODS = "GET, HEAD, POST"
# Methods a log line names; any other token a client sends is its own text, logged as "other".
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"})
# GET reads the store's record of the promoted version; a health check must not hang on it.
PROMOTED_READ_TIMEOUT_SECONDS = 5.0
RETRY_MAX_SECONDS = 60.0

Answer = tuple[dict[str, Any], int]


@dataclass(frozen=True)
class ServiceSettings:
    """What the service reads from the environment, read when main.py is imported.

    A malformed value stops the instance at start, naming the variable, rather than
    failing each request.
    """

    max_missing_share: float
    # Cloud Functions names the entry point in FUNCTION_TARGET; the event consumers,
    # deployed from this same source, have no use for the model.
    serves_predictions: bool
    pinned: bool

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ServiceSettings:
        share = config.get("SERVE_MAX_MISSING_SHARE")
        if not 0 <= share <= 1:
            raise ConfigError(f"SERVE_MAX_MISSING_SHARE={share} must be between 0 and 1")
        return cls(
            max_missing_share=share,
            serves_predictions=environ.get("FUNCTION_TARGET", "predict_handler")
            == "predict_handler",
            pinned=bool(environ.get(served_model.SERVED_RUN_ID_ENV)),
        )


class PerProcess:
    """One service per process, made on first use in the process that asks for it."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._service: PredictionService | None = None
        if settings.serves_predictions:
            process_hooks.at_worker_start(self.get)  # load before the worker accepts

    def get(self) -> PredictionService:
        pid = os.getpid()
        if self._pid != pid or self._service is None:
            with self._lock:
                if self._pid != pid or self._service is None:
                    self._service = PredictionService(self.settings)
                    self._pid = pid
        return self._service


def _load_served_model() -> tuple[served_model.LoadedModel | None, str | None]:
    try:
        pin = served_model.Pin.from_environment(os.environ)
        store = open_store(config.store_uri())
        try:
            model = served_model.load_from_store(store, pin)
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


def _metrics(read: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
    """Read the live version's metrics for GET; a model without them is still served."""
    try:
        return read()
    except (PipelineError, OSError, ValueError) as exc:
        log.warning("metrics of the live model not available: %s", exc)
        return None


def _monitor_for(model: served_model.LoadedModel | None) -> traffic_monitor.Monitor | None:
    """The traffic monitor of the served version, unless turned off."""
    if model is None or not config.get("MONITOR_ENABLED"):
        return None
    return traffic_monitor.Monitor(
        model.run_id,
        bins_of(model.metadata, model.contract.names),
        contract=model.contract,
        every_requests=config.get("MONITOR_EVERY_REQUESTS"),
        every_seconds=config.get("MONITOR_EVERY_SECONDS"),
        min_records=config.get("MONITOR_MIN_BIN_COUNT"),
    )


def _error(
    field: str, message: str, status: int, problems: list[tuple[str, str]] | None = None
) -> Answer:
    return api.error_body(field, message, problems), status


class PredictionService:
    """The served model with its monitor and retry: answers one request at a time."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.model: served_model.LoadedModel | None = None
        self.error: str | None = "this instance serves events, not predictions"
        if settings.serves_predictions:
            self.model, self.error = _load_served_model()
        self.monitor = _monitor_for(self.model)
        self.attempts = 1
        self.next_attempt_at = time.monotonic() + 1.0
        self._retry_lock = threading.Lock()
        if settings.serves_predictions:
            # gunicorn's worker runs the hook on SIGTERM after its requests in flight
            # (heartml.serving.bounded_worker); ``atexit`` covers any other exit. Flushing
            # empties the window, so it is never written twice.
            process_hooks.at_shutdown(self.flush)
            atexit.register(self.flush)

    def flush(self) -> None:
        if self.monitor is not None:
            self.monitor.flush("shutdown")

    def retry_in(self) -> int:
        """Seconds until the next load attempt (for Retry-After), at least 1."""
        return max(1, math.ceil(self.next_attempt_at - time.monotonic()))

    def ensure_model(self) -> None:
        """Try the load again if one failed and its backoff is over; one request does it."""
        if (
            self.model is not None
            or not self.settings.serves_predictions
            or time.monotonic() < self.next_attempt_at
        ):
            return
        if not self._retry_lock.acquire(blocking=False):
            return  # another request is loading it
        try:
            model, error = _load_served_model()
            if model is not None:
                self.model, self.error = model, None
                self.monitor = _monitor_for(model)
                log.info("model loaded after %d failed attempt(s)", self.attempts)
                return
            self.error = error
            self.attempts += 1
            delay = min(RETRY_MAX_SECONDS, 2.0 ** (self.attempts - 1))
            self.next_attempt_at = time.monotonic() + delay
        finally:
            self._retry_lock.release()

    def handle(self, request: flask.Request) -> tuple[dict[str, Any], int, dict[str, str]]:
        """POST: predict one record or a batch. GET: health and the live model's metadata."""
        started = time.perf_counter()
        headers: dict[str, str] = {}
        parsed = None
        self.ensure_model()
        if request.path != "/":
            # Not echoed: a path is the caller's text, and the summary below is logged.
            body, status = _error(
                "path", "is not served: POST predictions to /, GET / for health", 404
            )
        elif request.method == "POST":
            body, status, parsed = self.predict(request)
        elif request.method in ("GET", "HEAD"):
            body, status = self.health()
        else:
            body, status = _error("method", "is not allowed; use GET or POST", 405)
            headers["Allow"] = ALLOWED_METHODS
        model = self.model
        if status == 503 and model is None and self.settings.serves_predictions:
            headers["Retry-After"] = str(self.retry_in())
        error = body.get("error") if status >= 400 else None
        method = request.method if request.method in HTTP_METHODS else "other"
        features = model.contract.names if model else ()
        summary = f"{method} {status}" + (_loggable(error, features) if error else "")
        latency = time.perf_counter() - started
        logs.log_request(
            summary, method, status, latency, request.content_length,
            model.run_id if model else None,
        )  # fmt: skip
        if self.monitor is not None and request.method == "POST":
            answered = parsed is not None and status == 200
            self.monitor.record(
                status,
                latency,
                error["field"] if error else None,
                parsed.records if answered else None,
                [p["probability"] for p in body["predictions"]] if answered else None,
            )
        return body, status, headers

    def promoted(self) -> dict[str, Any] | None:
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
        served = self.model is not None and record["model_sha256"] == self.model.sha256
        return {**record, "is_served": served}

    def health(self) -> Answer:
        model = self.model
        if model is None:
            return {
                "status": "unavailable",
                "error": _error("model", self.error or "not loaded", 503)[0]["error"],
                "retry": {"attempts": self.attempts, "next_in_seconds": self.retry_in()},
                "promoted": self.promoted(),
            }, 503
        metrics = model.metrics or {}
        return {
            "status": "ok",
            "model": {
                **model.identity(),
                "sha256": model.sha256,
                "file": model.source,
                "pinned": self.settings.pinned,
                "notes": model.notes,
                "dataset_sha256": model.metadata.get("dataset_sha256"),
                "fast_path": model.scorer is not None,
                "label_coding": model.label_coding,
                "metrics": {
                    k: metrics.get(k) for k in ("acc", "val_acc", "roc_auc", "n_train", "n_val")
                }
                if metrics
                else None,
            },
            "promoted": self.promoted(),
            "limits": {"max_batch": api.MAX_BATCH, "max_body_bytes": api.MAX_BODY_BYTES},
        }, 200

    def predict(
        self, request: flask.Request
    ) -> tuple[dict[str, Any], int, api.ParsedRequest | None]:
        """Answer a POST; the parsed request comes back too, for the traffic monitor."""
        model = self.model
        if model is None:
            return *_error("model", f"no model is loaded: {self.error}", 503), None
        if request.mimetype != "application/json":
            return *_error("Content-Type", "must be application/json", 415), None
        too_large = _error("body", f"is larger than {api.MAX_BODY_BYTES} bytes", 413)
        if (request.content_length or 0) > api.MAX_BODY_BYTES:
            return *too_large, None
        try:
            raw = request.stream.read(api.MAX_BODY_BYTES + 1)
        except Exception as exc:  # the server's body parser: a malformed chunked body, a cut upload
            log.warning("request body unreadable: %s", type(exc).__name__)
            return *_error("body", "could not be read: the request is malformed", 400), None
        if len(raw) > api.MAX_BODY_BYTES:
            return *too_large, None
        if not raw.strip():
            empty = 'is empty; send a JSON record or {"instances": [...]}'
            return *_error("body", empty, 400), None
        try:
            body = api.parse_json(raw)
        except RequestError as exc:
            return *_error(exc.field, exc.problem, exc.status, exc.problems), None
        except (ValueError, RecursionError) as exc:
            where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
            return *_error("body", f"is not valid JSON{where}", 400), None
        try:
            explain = api.parse_explain_query(request.args.get("explain"))
            parsed = api.parse_request(
                body, model.contract, self.settings.max_missing_share, explain
            )
            return api.predict(model, parsed), 200, parsed
        except RequestError as exc:
            return *_error(exc.field, exc.problem, exc.status, exc.problems), None


def _loggable(error: dict[str, Any], features: tuple[str, ...]) -> str:
    """An error as its log line shows it: a caller's own key is counted, never written."""
    field = traffic_monitor.known_field(error["field"], features) and error["field"]
    unknown = sum(
        traffic_monitor.known_field(p["field"], features) is None for p in error["problems"]
    )
    counted = f" ({unknown} unknown field{'s' * (unknown != 1)})" if unknown else ""
    return f" {field or 'an unknown field'}: {error['message']}{counted}"


def install_error_handling() -> None:
    """Answer framework-level failures in JSON, and keep request bytes out of the logs.

    A malformed body (say a broken ``Transfer-Encoding: chunked``) fails inside the
    server before or after the handler; Flask would answer an HTML 500 and log a
    traceback quoting the offending bytes. The app is reachable here because
    functions-framework imports main.py inside its application context; Flask takes
    handlers only before its first request, so main.py calls this at import.
    """
    if not flask.has_app_context():
        return
    app = flask.current_app._get_current_object()
    app.logger.disabled = True  # its tracebacks quote request bytes; _framework_error logs
    app.register_error_handler(Exception, _framework_error)
    app.register_error_handler(500, _framework_error)


def _framework_error(exc: Exception) -> Answer:
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
