"""Reference handlers the serving benchmark runs beside main.py, each under functions-framework.

- ``constant_handler``: answers fixed JSON; the floor of what the HTTP stack costs.
- ``tutorial_handler``: the 2020 tutorial's way, a DataFrame per request and
  ``pipeline.predict``, on the same model file (``$BENCH_MODEL``).

Both are served with the server settings main.py installs (heartml.serving.bounded_worker), so the
constant handler is the floor of the same server, not of functions-framework's defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

import flask
import functions_framework

from heartml.serving import bounded_worker

bounded_worker.install()

ANSWER = {"diagnosis": "heart-disease", "probability": 0.5, "run_id": "constant"}


@functions_framework.http
def constant_handler(request: flask.Request) -> dict:
    """Read the body like a real handler would, then answer the same thing every time."""
    request.get_data()
    return ANSWER


_PIPELINE = None
if os.environ.get("BENCH_MODEL"):
    import pandas as pd

    from heartml.serving import served_model

    _PIPELINE = served_model.load_trained(Path(os.environ["BENCH_MODEL"]).parent).pipeline


@functions_framework.http
def tutorial_handler(request: flask.Request) -> dict:
    """The tutorial's handler: one DataFrame per request, then predict.

    Cast to float as this project's pipeline is fitted on floats (the tutorial's was
    fitted on the CSV's integers).
    """
    frame = pd.DataFrame.from_records([request.get_json()]).astype(float)
    label = int(_PIPELINE.predict(frame)[0])
    return {"diagnosis": {0: "clear", 1: "heart-disease"}[label]}
