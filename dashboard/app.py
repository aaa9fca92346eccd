"""The model's history: ``streamlit run dashboard/app.py`` (store from $PIPELINE_STORE).

Reads metrics files and ``models/latest.json`` only, never a model. The archive's
listing is taken on every run; the metrics are cached per listing, so the page
refreshes itself when a new version lands and costs one LIST when nothing did.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from heartml import config, history, registry
from heartml.store import open_store

REFRESH_SECONDS = 60

st.set_page_config(page_title="Heart-disease model history", layout="wide")


@st.cache_data(show_spinner=False)
def cached_history(uri: str, listing: tuple[str, ...]) -> tuple[list[dict], dict | None]:
    """Read every version's metrics; cached until the listing (or the pointer) changes."""
    return history.load(open_store(uri, timeout=config.store_timeout()))


def show_served(promoted: str) -> None:
    """Beside the store's promoted version, the version the deployed function serves."""
    url = config.get("FUNCTION_URL")
    if not url:
        st.caption(
            "Served: not asked. Set FUNCTION_URL (and FUNCTION_ID_TOKEN, e.g. from "
            "`gcloud auth print-identity-token`, for a private function) to see it."
        )
        return
    served = history.served_version(url, config.get("FUNCTION_ID_TOKEN"))
    if "error" in served:
        st.warning(f"Served: unknown ({served['error']})")
    elif served["run_id"] == promoted:
        st.success(f"Served: {served['run_id']} (the promoted version)")
    else:
        st.warning(
            f"Served: {served['run_id']}, not the promoted {promoted}: the function was not "
            "redeployed since (a rollback from a laptop, or a deploy that failed)."
        )


@st.fragment(run_every=REFRESH_SECONDS)
def page() -> None:
    uri = config.store_uri()
    store = open_store(uri, timeout=config.store_timeout())
    listing = tuple(store.list_keys(registry.MODELS_PREFIX))
    records, pointer = cached_history(uri, listing)
    st.title("Heart-disease model history")
    st.caption(
        f"Store: `{store.uri}` · {len(records)} version(s) · refreshes every {REFRESH_SECONDS} s"
    )
    if not records:
        st.info("No versions yet. Run `make local` (or the workflow) to train and publish one.")
        return

    live_id = (pointer or {}).get("run_id")
    table = history.versions_table(records, live_id)
    live_rows = table[table["live"]]
    if live_rows.empty:
        st.warning("No version is live yet.")
    else:
        live = live_rows.iloc[-1]
        # The table's rows are the records, in the same order.
        previous = registry.promoted_before(records, records[live_rows.index[-1]])
        before = None if previous is None else table.iloc[records.index(previous)]
        st.subheader(f"Promoted: {live['run_id']}")
        st.caption(
            f"trained {live['trained_at']:%Y-%m-%d %H:%M} UTC · promoted "
            f"{(pointer or {}).get('promoted_at', '?')} ({(pointer or {}).get('reason', '?')})"
            + (f" · compared with {before['run_id']}" if before is not None else "")
        )
        show_served(live["run_id"])
        columns = st.columns(3)
        for column, score in zip(columns, history.SCORES, strict=True):
            delta = None if before is None else float(live[score] - before[score])
            column.metric(score, f"{live[score]:.4f}", None if delta is None else f"{delta:+.4f}")

    st.subheader("Scores per run")
    st.caption(
        "Heart disease is the positive class. ROC AUC and accuracy do not depend on which class "
        'is positive, so versions trained before the label fix (label coding "pre-fix", '
        "served turned round) compare directly."
    )
    st.vega_lite_chart(
        history.scores_long(table),
        {
            "layer": [
                {"mark": "line", "encoding": {"color": {"field": "score", "type": "nominal"}}},
                {
                    "mark": {"type": "point", "filled": True, "size": 60},
                    "encoding": {
                        "color": {"field": "score", "type": "nominal"},
                        "shape": {"field": "gate", "type": "nominal", "title": "gate verdict"},
                        "tooltip": [
                            {"field": "run_id"},
                            {"field": "score"},
                            {"field": "value", "format": ".4f"},
                            {"field": "gate"},
                        ],
                    },
                },
            ],
            "encoding": {
                "x": {"field": "trained_at", "type": "temporal", "title": "trained at (UTC)"},
                "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}},
            },
        },
        width="stretch",
    )
    st.subheader("Training time per run")
    st.vega_lite_chart(
        table[["trained_at", "run_id", "elapsed_s"]],
        {
            "mark": {"type": "line", "point": True},
            "encoding": {
                "x": {"field": "trained_at", "type": "temporal", "title": "trained at (UTC)"},
                "y": {"field": "elapsed_s", "type": "quantitative", "title": "fit seconds"},
                "tooltip": [{"field": "run_id"}, {"field": "elapsed_s", "format": ".3f"}],
            },
        },
        width="stretch",
    )

    drifted = table[table["drifted"] != ""]
    st.subheader("Drift")
    if drifted.empty:
        st.write("No drift recorded against the live model's data in any run.")
    else:
        st.dataframe(drifted[["run_id", "trained_at", "drifted"]], hide_index=True)

    st.subheader("Versions")
    shown = table.iloc[::-1].assign(live=table["live"].iloc[::-1].map({True: "live", False: ""}))
    st.dataframe(
        pd.DataFrame(shown),
        hide_index=True,
        column_config={"trained_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )


page()
