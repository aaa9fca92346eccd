"""Cloud Function source: HTTP predictions from the live heart-disease model.

The model is loaded once per instance, at cold start, from the store named by
``$PIPELINE_STORE`` (``models/latest.joblib``), or from ``artifacts/pipeline.joblib``
when no store is set. If it cannot be loaded the instance stays up and answers 503
with the reason, rather than crash-looping or serving something unchecked.
"""

from __future__ import annotations

import logging
import os

import flask
import functions_framework

from heartml import config, serving
from heartml.errors import PipelineError
from heartml.store import open_store

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("main")

LOCAL_MODEL_PATH = "artifacts/pipeline.joblib"


def _load_live_model() -> tuple[serving.LoadedModel | None, str | None]:
    uri = os.environ.get(config.STORE_ENV)
    try:
        source = open_store(uri, timeout=config.store_timeout()) if uri else LOCAL_MODEL_PATH
        return serving.load_model(source), None
    except PipelineError as exc:
        log.error("model not loaded: %s", exc)
        return None, str(exc)


MODEL, MODEL_ERROR = _load_live_model()


@functions_framework.http
def predict_handler(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Answer a POSTed JSON record of the 13 features with a diagnosis."""
    if MODEL is None:
        return {"error": {"field": "model", "message": f"no model is loaded: {MODEL_ERROR}"}}, 503
    if request.method != "POST":
        return {"error": {"field": "method", "message": "use POST with a JSON record"}}, 405
    body = request.get_json(silent=True)
    if body is None:
        return {"error": {"field": "body", "message": "expected a JSON object of features"}}, 400
    try:
        record = serving.parse_record(body)
    except serving.RequestError as exc:
        return {"error": {"field": exc.field, "message": exc.problem}}, 400
    return serving.predict_one(MODEL, record)
