"""The model's history and its live traffic: ``make dashboard``.

The versions come from $PIPELINE_STORE, the traffic windows from $MONITOR_STORE.
Reads metrics files, ``models/latest.json`` and the windows only, never a model. Each
store's listing is taken on every run and what is read is cached per listing, so the
page refreshes itself when a version or an hour of traffic lands and costs one LIST
per store when nothing did. What it shows is shaped in heartml/views/archive_view.py and
heartml/views/traffic_view.py; this file only lays it out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from heartml import config
from heartml.ops import traffic_windows
from heartml.store import registry
from heartml.store.backends import Store, open_store
from heartml.views import archive_view, traffic_view
from heartml.views.markdown import cell

REFRESH_SECONDS = 60
DAYS_SHOWN = (7, 30, 90)

st.set_page_config(page_title="Heart-disease model history", layout="wide")


@st.cache_data(show_spinner=False)
def cached_history(uri: str, listing: tuple[str, ...]) -> tuple[list[dict], dict | None]:
    """Read every version's metrics; cached until the listing (or the pointer) changes."""
    return archive_view.load(open_store(uri))


@st.cache_data(show_spinner=False)
def cached_traffic(
    uri: str, listing: tuple[str, ...], since: str
) -> tuple[dict[tuple[str, str], dict], dict[str, dict], list[str]]:
    """The windows summed per version and day, and per version; cached per sink listing."""
    store = open_store(uri)
    windows, problems = traffic_windows.read_windows(store, datetime.fromisoformat(since))
    days = traffic_view.by_day(windows)
    return days, traffic_view.by_version(days), problems


def show_served(promoted: str) -> None:
    """Beside the store's promoted version, the version the deployed function serves."""
    url = config.get("FUNCTION_URL")
    if not url:
        st.caption(
            "Served: not asked. Set FUNCTION_URL (and FUNCTION_ID_TOKEN, e.g. from "
            "`gcloud auth print-identity-token`, for a private function) to see it."
        )
        return
    served = archive_view.served_version(url, config.get("FUNCTION_ID_TOKEN"))
    if "error" in served:
        st.warning(f"Served: unknown ({cell(served['error'], 300)})")
    elif served["run_id"] == promoted:
        st.success(f"Served: {cell(served['run_id'])} (the promoted version)")
    else:
        st.warning(
            f"Served: {cell(served['run_id'])}, not the promoted {cell(promoted)}: the function "
            "was not redeployed since (a rollback from a laptop, or a deploy that failed)."
        )


def show_live(records: list[dict], pointer: dict | None) -> dict | None:
    """The promoted version, its scores against the version before it, and what serves."""
    live_id = (pointer or {}).get("run_id")
    live = next((m for m in records if m.get("run_id") == live_id), None)
    if live is None:
        st.warning(
            f"The store names {cell(live_id)} as promoted, but its metrics are missing or "
            "unreadable."
            if live_id
            else "No version is live yet."
        )
        return None
    before = registry.promoted_before(records, live)
    st.subheader(f"Promoted: {cell(live_id)}")
    st.caption(
        f"trained {archive_view.format_time(live.get('timestamp'))} · promoted "
        f"{archive_view.format_time((pointer or {}).get('promoted_at')) or '?'} "
        f"({cell((pointer or {}).get('reason', '?'))})"
        + (f" · compared with {before['run_id']}" if before is not None else "")
    )
    show_served(live_id)
    for column, score in zip(st.columns(3), archive_view.SCORES, strict=True):
        delta = archive_view.score_delta(live[score], None if before is None else before.get(score))
        column.metric(
            archive_view.SCORE_TITLES[score],
            f"{live[score]:.4f}",
            delta,
            delta_color="off" if delta == "no change" else "normal",
            help=f"`{score}` in metrics.json",
        )
    return live


def compare_section(records: list[dict], live: dict | None, live_id: str | None) -> None:
    """Any two versions side by side; by default the live one and the one before it."""
    st.subheader("Compare two versions")
    ids = [m["run_id"] for m in records][::-1]
    before = registry.promoted_before(records, live) if live is not None else None
    default_b = (before or {}).get("run_id") or (ids[1] if len(ids) > 1 else ids[0])
    left, right = st.columns(2)
    a_id = left.selectbox(
        "version", ids, index=ids.index(live_id) if live_id in ids else 0, key="compare_a"
    )
    b_id = right.selectbox("with", ids, index=ids.index(default_b), key="compare_b")
    by_id = {m["run_id"]: m for m in records}
    # A static table: every fact readable (and findable) at once, on a phone too.
    st.table(archive_view.compare(by_id[a_id], by_id[b_id], live_id).set_index(""))


def versions_view(store: Store, records: list[dict], pointer: dict | None) -> None:
    """The archive: the live version, the gate's verdicts, lineage, comparison, data drift."""
    if not records:
        st.info("No versions yet. Run `make local` (or the workflow) to train and publish one.")
        return
    live_id = (pointer or {}).get("run_id")
    live = show_live(records, pointer)
    table = archive_view.versions_table(records, live_id)

    held = archive_view.held_back(records)
    if held:
        st.subheader("Held back by the gate")
        st.markdown(
            "\n".join(
                f"- **{cell(h['run_id'])}** ({cell(h['trained'])}): {cell(h['why'], 400)}"
                for h in held
            )
        )

    st.subheader("Scores per version")
    st.caption(
        "The line joins the versions the gate passed (each was promoted when trained); red "
        "crosses are versions it held back; the dashed rule is the gate's floor; the ringed "
        "point is live. Heart disease is the positive class. ROC AUC and accuracy do not "
        "depend on which class is positive, so versions trained before the label fix (label "
        'coding "pre-fix", served turned round) compare directly.'
    )
    floors = archive_view.floors()
    for score in ("roc_auc", "val_acc"):
        st.vega_lite_chart(
            archive_view.score_chart(table, score, floors.get(score)), width="stretch"
        )

    st.subheader("Versions")
    st.caption("Newest first. Select a row to see where that version came from.")
    shown = table.drop(columns=["trained_at", "live"]).iloc[::-1].reset_index(drop=True)
    event = st.dataframe(
        shown,
        hide_index=True,
        on_select="rerun",
        selection_mode="single-row",
        key="versions",
        column_config={
            "status": st.column_config.TextColumn(width="small"),
            "run_id": st.column_config.TextColumn("run id"),
            "roc_auc": st.column_config.NumberColumn(format="%.4f", width="small"),
            "val_acc": st.column_config.NumberColumn(format="%.4f", width="small"),
            "acc": st.column_config.NumberColumn(format="%.4f", width="small"),
            "fit_s": st.column_config.NumberColumn("fit s", format="%.3f"),
            "make it live": st.column_config.TextColumn(width="large"),
            "why held back": st.column_config.TextColumn(width="large"),
        },
    )
    selected = event.selection.rows if event is not None else []
    chosen_id = (
        shown.iloc[selected[0]]["run_id"] if selected else live_id or shown.iloc[0]["run_id"]
    )
    # The pointer may name a version whose metrics are unreadable: then the newest one.
    chosen = next((m for m in records if m.get("run_id") == chosen_id), records[-1])
    st.subheader(f"Lineage of {cell(chosen['run_id'])}")
    facts = archive_view.lineage(chosen, store)
    st.table({"": [name for name, _ in facts], "value": [value for _, value in facts]})
    with st.expander(f"Model card of {cell(chosen['run_id'])}"):
        # Rendered here from the card's JSON: every stored value is escaped on the way.
        st.markdown(archive_view.model_card_text(chosen, store))

    if len(records) > 1:
        compare_section(records, live, live_id)

    drifted = table[table["drifted"] != ""]
    st.subheader("Drift")
    if drifted.empty:
        st.write("No drift recorded in any run.")
    else:
        st.caption("Each run's data against the data of the version live when it was checked.")
        columns = {"run_id": "version", "drifted": "drifted", "drift against": "against version"}
        st.dataframe(drifted[list(columns)].rename(columns=columns).iloc[::-1], hide_index=True)


def traffic_section(records: list[dict], live_id: str | None) -> None:
    """What the served function was asked, per day and version, against its training rows."""
    sink = open_store(config.get("MONITOR_STORE"))
    days_back = st.selectbox("days shown", DAYS_SHOWN, index=1, key="traffic_days")
    since_day = (datetime.now(UTC) - timedelta(days=days_back - 1)).date()
    since = datetime(since_day.year, since_day.month, since_day.day, tzinfo=UTC)
    listing = tuple(
        key for key in sink.list_keys() if (hour := traffic_windows.hour_of(key)) and hour >= since
    )
    days, totals, problems = cached_traffic(sink.uri, listing, since.isoformat())
    min_count = config.get("MONITOR_MIN_BIN_COUNT")
    min_records = config.get("MONITOR_MIN_RECORDS")
    threshold = config.get("MONITOR_PSI_THRESHOLD")
    st.caption(
        f"Monitoring store: `{sink.uri}` · {len(listing)} sink file(s) from {since_day} on · "
        "counts per bin only, never a patient's value"
    )
    for problem in problems:
        st.warning(cell(problem, 400))
    if not totals:
        st.info(
            f"No traffic windows in `{sink.uri}` since {since_day}. On Google Cloud the sink "
            "writes hourly batches and the first may take 2-3 hours; locally, `make serve` "
            "collects its own."
        )
        return
    st.vega_lite_chart(traffic_view.volume_chart(days), width="stretch")
    versions = sorted(totals, key=lambda run_id: str(totals[run_id]["last"]), reverse=True)
    chosen = st.selectbox(
        "served version",
        versions,
        index=versions.index(live_id) if live_id in versions else 0,
        format_func=lambda run_id: f"{run_id} (live)" if run_id == live_id else run_id,
        key="traffic_version",
    )
    metrics = next((m for m in records if m.get("run_id") == chosen), None)
    reference = traffic_view.reference_of(metrics) if metrics else None
    merged = totals[chosen]
    answered = st.columns(4)
    answered[0].metric("records answered", f"{merged['records']:,}")
    answered[1].metric("requests", f"{merged['requests']:,}")
    answered[2].metric("instances", f"{merged['instances']:,}")
    answered[3].metric(traffic_view.HELD, f"{merged['held_records']:,}")
    if merged["held_records"]:
        st.caption(
            f"{merged['held_records']:,} record(s) came from instances that stopped before "
            f"their window held {min_count}: counted, never binned, so not in the shares or "
            "drift below."
        )
    if reference is None:
        st.caption(
            f"{chosen} has no training counts in its metrics (archived before they were kept, "
            "or not in this store): drift is not shown."
        )
    else:
        verdict = traffic_windows.compare(
            merged, reference, psi_threshold=threshold,
            p_threshold=config.get("MONITOR_P_VALUE"), min_records=min_records,
            min_count=min_count,
        )  # fmt: skip
        if not verdict["judged"]:
            st.info(
                f"{traffic_windows.binned_records(merged)} records counted per bin: fewer than the "
                f"{min_records} drift needs."
            )
        elif verdict["drifted"]:
            shown = ", ".join(
                f"{name} (PSI {verdict['features'][name]['psi']:.2f})"
                for name in verdict["drifted"]
            )
            st.warning(f"Over these days, live inputs have drifted from training in {shown}.")
        else:
            st.success("Over these days, live inputs look like the training rows.")
        psi = traffic_view.psi_rows(days, chosen, reference, min_records)
        if psi.empty:
            st.caption(f"No day has the {min_records} records a daily PSI needs.")
        else:
            st.vega_lite_chart(traffic_view.psi_chart(psi, threshold), width="stretch")
    trained_share = ((reference or {}).get("answers") or {}).get("positive_share")
    st.caption(
        "Per day, newest first. Missing, imputed and out of range are shares of all values "
        "received; answered heart disease is the share answered P ≥ 0.5"
        + ("" if trained_share is None else f" ({trained_share:.1%} of the training rows)")
        + f'. "None" is a share hidden because it would single out fewer than {min_count} records.'
    )
    table = traffic_view.day_rows(days, chosen, min_count).iloc[::-1]
    percent = st.column_config.NumberColumn(format="percent")
    st.dataframe(
        table,
        hide_index=True,
        column_config={name: percent for name in [*traffic_view.SHARES, "answered heart disease"]},
    )


@st.fragment(run_every=REFRESH_SECONDS)
def page() -> None:
    uri = config.store_uri()
    store = open_store(uri)
    listing = tuple(store.list_keys(registry.MODELS_PREFIX))
    records, pointer = cached_history(uri, listing)
    st.title("Heart-disease model history")
    st.caption(
        f"Store: `{store.uri}` · {len(records)} version(s) · refreshes every {REFRESH_SECONDS} s"
        " · times in UTC"
    )
    versions_tab, traffic_tab = st.tabs(["Versions", "Live traffic"])
    with versions_tab:
        versions_view(store, records, pointer)
    with traffic_tab:
        traffic_section(records, (pointer or {}).get("run_id"))


page()
