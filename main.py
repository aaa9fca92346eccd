"""Cloud Function source: predictions from the live model, and the pipeline's event consumers.

Entry points: ``predict_handler`` (HTTP; heartml/serving/service.py holds what it
serves: the pinned model, its monitor, its health and retry) and ``on_dataset_uploaded``
and ``on_metrics_uploaded`` (CloudEvents from Cloud Storage; heartml/ops/events.py).
Locally, ``$PIPELINE_STORE`` unset serves what is live in the ``local-store`` folder,
never an unpublished candidate from ``artifacts/``. See openapi.yaml.
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from heartml import logs
from heartml.ops import events
from heartml.serving import bounded_worker, service

logs.configure()
bounded_worker.install()  # bounded request reading and JSON refusals
service.install_error_handling()  # framework-level failures in JSON, request bytes unlogged
# Settings are read now, so a malformed one stops the instance at start; the service itself
# is made in the process that serves requests (gunicorn's worker), never in its master.
PREDICTIONS = service.PerProcess(service.ServiceSettings.from_environment())


@functions_framework.http
def predict_handler(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """POST: predict one record or a batch. GET: health and the live model's metadata."""
    return PREDICTIONS.get().handle(request)


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
