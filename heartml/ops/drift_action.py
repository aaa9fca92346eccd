"""What the monitor does when live traffic drifted: alert, maybe retrain, once per cooldown.

The calls themselves are ``heartml.ops.downstream``'s; this module holds the rule of
when to make them, and keeps its last action in the model store
(``registry.DRIFT_MARKER_KEY``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from heartml.errors import ObjectNotFound
from heartml.store.backends import Store, parse_stored


def act_on_drift(
    live: dict[str, Any],
    model_store: Store,
    live_dataset_sha256: str | None,
    *,
    dispatch: bool,
    cooldown_hours: float,
    policy: Any = None,
    now: datetime | None = None,
) -> list[str]:
    """Alert Slack and, when allowed and useful, dispatch "Train and Deploy"; say what was done.

    Live traffic carries no labels: retraining on the same ``dataset.csv`` rebuilds the
    same model, so the dispatch goes out only when the store's dataset differs from the
    live version's. One drift of one version is acted on once per cooldown (the last
    action is kept in the model store), so an hourly monitor does not retrain hourly.
    Messages name features and PSI only, never a value.
    """
    from heartml import config
    from heartml.errors import DownstreamRefused, DownstreamUnavailable
    from heartml.ops.downstream import RetryPolicy, dispatch_training, post_to_slack
    from heartml.store import registry
    from heartml.store.model_file import sha256_bytes

    now = now or datetime.now(UTC)
    policy = policy or RetryPolicy.from_settings()
    done: list[str] = []
    try:
        last = parse_stored(model_store.read_bytes(registry.DRIFT_MARKER_KEY))
    except (ObjectNotFound, ValueError):
        last = {}
    if isinstance(last, dict) and last.get("run_id") == live["run_id"]:
        try:
            age_h = (now - datetime.fromisoformat(str(last.get("at")))).total_seconds() / 3600
        except (TypeError, ValueError):
            age_h = float("inf")
        if age_h < cooldown_hours:
            return [f"already acted on drift of {live['run_id']} {age_h:.1f} h ago (cooldown)"]
    shown = ", ".join(f"{n} (PSI {live['features'][n]['psi']:.2f})" for n in live["drifted"])
    text = (
        f"Live traffic of {live['run_id']} has drifted from its training data in {shown}, "
        f"over {live['records']} records."
    )
    webhook = config.get("SLACK_WEBHOOK_URL").strip()
    if webhook:
        try:
            answer = post_to_slack(webhook, {"text": text}, policy)
            done.append("alerted Slack" if answer.status_code < 400 else "Slack refused the alert")
        except (DownstreamRefused, DownstreamUnavailable) as exc:
            done.append(f"alert not sent: {exc}")
    else:
        done.append("no alert: SLACK_WEBHOOK_URL is not set")
    if dispatch:
        try:
            current = sha256_bytes(model_store.read_bytes(registry.DATASET_KEY))
        except ObjectNotFound:
            current = None
        repository, token = config.get("GITHUB_REPOSITORY"), config.get("GITHUB_TOKEN").strip()
        if current is None or current == live_dataset_sha256:
            done.append(
                "no retraining: dataset.csv is unchanged since the live model's data, and "
                "traffic carries no labels (retraining would rebuild the same model)"
            )
        elif not repository or not token:
            done.append("no retraining: set GITHUB_REPOSITORY and GITHUB_TOKEN")
        else:
            payload = {"reason": "live traffic drifted", "run_id": live["run_id"]}
            try:
                answer = dispatch_training(
                    config.get("GITHUB_API_URL"), repository, token, payload, policy
                )
                done.append(
                    "dispatched Train and Deploy"
                    if answer.status_code < 400
                    else f"GitHub refused the dispatch: HTTP {answer.status_code}"
                )
            except (DownstreamRefused, DownstreamUnavailable) as exc:
                done.append(f"dispatch not sent: {exc}")
    marker = {"run_id": live["run_id"], "drifted": live["drifted"], "at": now.isoformat()}
    model_store.write_bytes(registry.DRIFT_MARKER_KEY, json.dumps(marker).encode())
    return done
