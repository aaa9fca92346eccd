"""Time the dashboard's render with 0, 1 and 500 versions (Streamlit's AppTest, local store).

Reproduce: ``.venv/bin/python benchmarks/bench_dashboard.py``. A cold render reads every
metrics file; a warm one (the next rerun, nothing new) hits the cache and lists only.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import streamlit as st  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from heartml.store import open_store  # noqa: E402
from tests.dashboard.seed import seed_history  # noqa: E402


def main() -> None:
    print("dashboard render (AppTest, local-folder store), medians of 5")
    for count in (0, 1, 500):
        with tempfile.TemporaryDirectory() as tmp:
            seed_history(open_store(Path(tmp) / "store"), count)
            os.environ["PIPELINE_STORE"] = str(Path(tmp) / "store")
            cold, warm = [], []
            for _ in range(5):
                app = AppTest.from_file(str(REPO / "dashboard" / "app.py"), default_timeout=120)
                st.cache_data.clear()  # the cache outlives AppTest instances in one process
                started = time.perf_counter()
                app.run()
                cold.append(time.perf_counter() - started)
                started = time.perf_counter()
                app.run()
                warm.append(time.perf_counter() - started)
                assert not app.exception, app.exception
        print(
            f"  {count:>3} versions: cold {statistics.median(cold) * 1000:7.0f} ms, "
            f"warm {statistics.median(warm) * 1000:6.0f} ms"
        )
    print("reproduce: .venv/bin/python benchmarks/bench_dashboard.py")


if __name__ == "__main__":
    main()
