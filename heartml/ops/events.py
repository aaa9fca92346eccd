"""Event-driven operations: retrain when the dataset changes, alert when a model slips.

Two Cloud Storage "object finalized" consumers (entry points in main.py):

- a new ``dataset.csv`` under the pipeline's store asks GitHub to run the workflow
  (``repository_dispatch``, event type ``dataset-updated``);
- a new ``models/metrics/<run id>.json`` posts to a Slack incoming webhook when the
  version is below a floor, fell against the version before it, or was held back.

Both behave as Eventarc expects of a consumer. What is guaranteed, since the side
effect is an outside HTTP call that cannot be undone:

- at least once: an event is acknowledged (2xx) only after its call succeeded, or when
  a redelivery cannot help (an event of unknown shape, a poison metrics file, a call
  GitHub or Slack refused, a misconfiguration); otherwise it is handed back (5xx) and
  Eventarc redelivers it;
- at most once per event id while claims hold: a delivery first claims the event
  (``events/<handler>/<id>.claim``, created only if absent), sends, writes the done
  marker and drops the claim; it drops the claim on failure too. A delivery that finds
  a fresh claim is handed back (another is sending); one that finds a claim older than
  ``NOTIFY_CLAIM_STALE_SECONDS`` (its holder was killed) takes it over. Two sends are
  possible only if a holder outlives that limit, or if a call timed out on our side
  but reached the downstream.

Downstream failures are retried with backoff within a total time budget that no
call can outlast, however slowly the downstream answers (heartml.ops.downstream).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import requests

from heartml import config
from heartml.errors import (
    DownstreamRefused,
    DownstreamUnavailable,
    ObjectExists,
    ObjectNotFound,
    PipelineError,
)
from heartml.ops.downstream import (
    DISPATCH_EVENT_TYPE,
    RetryPolicy,
    dispatch_training,
    post_to_slack,
)
from heartml.store import registry
from heartml.store.backends import GCSStore, Store, parse_stored, shared_store

# The name its log lines carried before the package had wings: log queries keep working.
log = logging.getLogger("heartml.events")

FINALIZED = "google.cloud.storage.object.v1.finalized"


@dataclass(frozen=True)
class StorageObject:
    """The parts of a Cloud Storage event this project uses."""

    event_id: str
    bucket: str
    name: str
    generation: str


def storage_object(event: Any) -> StorageObject | None:
    """Read a finalize event; None (logged) when it is not one this code understands."""
    try:
        event_type, data = event["type"], event.data
        if event_type != FINALIZED or not isinstance(data, dict):
            raise ValueError(f"type {event_type!r} with {type(data).__name__} data")
        return StorageObject(
            event_id=str(event["id"]),
            bucket=str(data["bucket"]),
            name=str(data["name"]),
            generation=str(data.get("generation", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("ignored an event of unknown shape: %s", exc)
        return None


def _store_for(obj: StorageObject) -> tuple[Store, str] | None:
    """Return the pipeline's store and the object's key in it, if the object lies under it."""
    store = shared_store(config.store_uri(), config.store_timeout())
    if not isinstance(store, GCSStore) or store.bucket_name != obj.bucket:
        log.info(
            "ignored gs://%s/%s: not in the pipeline's store %s", obj.bucket, obj.name, store.uri
        )
        return None
    prefix = f"{store.prefix}/" if store.prefix else ""
    if not obj.name.startswith(prefix):
        return None
    return store, obj.name[len(prefix) :]


def _claim(store: Store, handler: str, event_id: str) -> bool:
    """Claim an event for this delivery; False when it was already handled.

    Raises DownstreamUnavailable (a 5xx: Eventarc redelivers later) while another
    delivery holds a fresh claim.
    """
    marker = registry.event_marker_key(handler, event_id)
    if store.exists(marker):
        return False
    claim, now = marker + ".claim", time.time()
    stamp = json.dumps({"claimed_at": now}).encode()
    try:
        store.write_bytes(claim, stamp, exclusive=True)
        return True
    except ObjectExists:
        pass
    try:
        held_since = float(parse_stored(store.read_bytes(claim))["claimed_at"])
    except (ObjectNotFound, ValueError, KeyError, TypeError):
        held_since = 0.0  # released meanwhile, or unreadable: treat as stale
    if not math.isfinite(held_since) or held_since > now + 60:
        held_since = 0.0  # a claim from the future (or "Infinity") would block the event forever
    if now - held_since < config.get("NOTIFY_CLAIM_STALE_SECONDS"):
        raise DownstreamUnavailable(f"event {event_id} is being handled by another delivery")
    log.warning("event %s: taking over a claim held since %.0f s ago", event_id, now - held_since)
    store.write_bytes(claim, stamp)
    return True


def _release(store: Store, handler: str, event_id: str) -> None:
    with contextlib.suppress(PipelineError):  # a stale claim is taken over later anyway
        store.delete(registry.event_marker_key(handler, event_id) + ".claim")


def _mark(store: Store, handler: str, event_id: str) -> None:
    # A concurrent delivery may have got here first; the work is done either way.
    with contextlib.suppress(ObjectExists):
        store.write_bytes(registry.event_marker_key(handler, event_id), b"", exclusive=True)
    _release(store, handler, event_id)


@contextlib.contextmanager
def _claimed(store: Store, handler: str, event_id: str) -> Any:
    """Hold the event's claim while handling it; drop it however the handling ends."""
    try:
        yield
    finally:
        _release(store, handler, event_id)


def handle_dataset_uploaded(event: Any, policy: RetryPolicy | None = None) -> str:
    """Ask GitHub to retrain when the store's ``dataset.csv`` is written; return what was done."""
    obj = storage_object(event)
    located = _store_for(obj) if obj else None
    if located is None or located[1] != registry.DATASET_KEY:
        return "ignored"
    store, _ = located
    if not _claim(store, "dataset", obj.event_id):
        log.info("event %s already handled: no second dispatch", obj.event_id)
        return "duplicate"
    with _claimed(store, "dataset", obj.event_id):
        return _send_dispatch(store, obj, policy)


def _send_dispatch(store: Store, obj: StorageObject, policy: RetryPolicy | None) -> str:
    repository = config.get("GITHUB_REPOSITORY")
    token = config.get("GITHUB_TOKEN").strip()  # a secret saved with `echo` ends in a newline
    if "/" not in repository or not token:
        log.error("cannot dispatch: set GITHUB_REPOSITORY (owner/repo) and GITHUB_TOKEN")
        return "misconfigured"
    api = config.get("GITHUB_API_URL").rstrip("/")
    try:
        response = _dispatch(api, repository, token, obj, policy)
    except DownstreamRefused as exc:
        log.error("dispatch not sent: %s", exc)
        return "refused"
    if response.status_code != 204:
        # 401, 403, 404, 422: the token or repository is wrong; a redelivery cannot help.
        log.error("GitHub refused the dispatch for %s: HTTP %d", repository, response.status_code)
        return "refused"
    _mark(store, "dataset", obj.event_id)
    log.info(
        "dispatched %s to %s for generation %s", DISPATCH_EVENT_TYPE, repository, obj.generation
    )
    return "dispatched"


def _dispatch(
    api: str, repository: str, token: str, obj: StorageObject, policy: RetryPolicy | None
) -> requests.Response:
    payload = {"bucket": obj.bucket, "object": obj.name, "generation": obj.generation}
    return dispatch_training(api, repository, token, payload, policy or RetryPolicy.from_settings())


@dataclass(frozen=True)
class AlertThresholds(config.SettingsGroup):
    """When a new version is worth a message (defaults are the gate's, from config)."""

    min_roc_auc: float = config.setting("ALERT_MIN_ROC_AUC")
    min_accuracy: float = config.setting("ALERT_MIN_ACCURACY")
    max_drop: float = config.setting("ALERT_MAX_DROP")


def alert_reasons(
    metrics: dict[str, Any], previous: dict[str, Any] | None, thresholds: AlertThresholds
) -> list[str]:
    """Return why a version deserves an alert; empty when it does not."""
    reasons = []
    for name, floor in (("roc_auc", thresholds.min_roc_auc), ("val_acc", thresholds.min_accuracy)):
        value = metrics.get(name)
        if isinstance(value, int | float) and value < floor:
            reasons.append(f"{name} {value:.4f} is below {floor}")
        if (
            previous
            and isinstance(value, int | float)
            and isinstance(previous.get(name), int | float)
        ):
            drop = previous[name] - value
            if drop > thresholds.max_drop:
                reasons.append(
                    f"{name} fell {drop:.4f} against {previous.get('run_id')} "
                    f"({previous[name]:.4f} → {value:.4f})"
                )
    gate = metrics.get("gate") or {}
    if gate and not gate.get("passed"):
        reasons.append("the gate held it back: " + "; ".join(gate.get("reasons") or ["no reason"]))
    return reasons


def slack_message(metrics: dict[str, Any], reasons: list[str]) -> dict[str, Any]:
    """Build the Slack message: plain text for notifications, blocks for the channel."""
    run_id = str(metrics.get("run_id"))
    link = _run_link(run_id)
    title = f"Heart-disease model run {run_id} needs a look"
    figures = (
        f"ROC AUC {metrics.get('roc_auc', float('nan')):.4f}, "
        f"validation accuracy {metrics.get('val_acc', float('nan')):.4f}, "
        f"{(metrics.get('dataset') or {}).get('rows')} rows"
    )
    lines = "\n".join(f"• {reason}" for reason in reasons)
    text = f"{title}\n{lines}\n{figures}" + (f"\n{link}" if link else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": figures}]},
    ]
    if link:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"<{link}|Open the workflow run>"},
            }
        )
    return {"text": text, "blocks": blocks}


def _run_link(run_id: str) -> str | None:
    repository = config.get("GITHUB_REPOSITORY")
    github_run, _, attempt = run_id.partition("-")
    if not repository or not github_run.isdigit() or not attempt.isdigit():
        return None
    server = config.get("GITHUB_SERVER_URL").rstrip("/")
    return f"{server}/{repository}/actions/runs/{github_run}/attempts/{attempt}"


def handle_metrics_uploaded(event: Any, policy: RetryPolicy | None = None) -> str:
    """Post to Slack when a new version's metrics call for it; return what was done."""
    obj = storage_object(event)
    located = _store_for(obj) if obj else None
    if located is None:
        return "ignored"
    store, key = located
    if not (key.startswith(registry.METRICS_PREFIX) and key.endswith(".json")):
        return "ignored"
    if not _claim(store, "metrics", obj.event_id):
        log.info("event %s already handled: no second alert", obj.event_id)
        return "duplicate"
    with _claimed(store, "metrics", obj.event_id):
        return _send_alert(store, key, obj, policy)


def _send_alert(store: Store, key: str, obj: StorageObject, policy: RetryPolicy | None) -> str:
    run_id = key[len(registry.METRICS_PREFIX) : -len(".json")]
    try:
        metrics = registry.read_metrics(store, run_id)
    except ObjectNotFound:
        log.warning("ignored event %s: %s was deleted before delivery", obj.event_id, key)
        return "gone"
    except PipelineError as exc:
        # A poison event: every redelivery would fail the same way. Logged once, acknowledged.
        log.error("ignored event %s: %s", obj.event_id, exc)
        _mark(store, "metrics", obj.event_id)
        return "poison"
    previous = registry.promoted_before(registry.versions(store), metrics)
    reasons = alert_reasons(metrics, previous, AlertThresholds.from_settings())
    if not reasons:
        _mark(store, "metrics", obj.event_id)
        log.info("run %s needs no alert", metrics.get("run_id"))
        return "quiet"
    webhook = config.get("SLACK_WEBHOOK_URL").strip()
    if not webhook:
        log.error("alert for run %s not sent: set SLACK_WEBHOOK_URL", metrics.get("run_id"))
        return "misconfigured"
    try:
        response = post_to_slack(
            webhook, slack_message(metrics, reasons), policy or RetryPolicy.from_settings()
        )
    except DownstreamRefused as exc:
        log.error("alert for run %s not sent: %s", metrics.get("run_id"), exc)
        return "refused"
    if response.status_code >= 400:
        log.error("Slack refused the alert: HTTP %d", response.status_code)
        return "refused"
    _mark(store, "metrics", obj.event_id)
    log.info("alerted on run %s: %s", metrics.get("run_id"), "; ".join(reasons))
    return "alerted"
