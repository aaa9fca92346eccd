"""Serving benchmark: main.py beside a constant handler and the tutorial's handler.

All run under functions-framework (gunicorn, 1 worker, 8 threads) on loopback, with the
server settings main.py installs (bounded_worker: servers.py installs them too, so the
constant handler is the floor of the same server), and are loaded with ``wrk`` in turn,
round by round, so that they share the machine's noise. Every round is printed.
Reported: requests/s and p50/p99 at concurrency 1 and 32 (medians over rounds), the
main.py / constant ratio (the median of each round's ratio), errors, cold start, peak
memory of the serving processes, the latency of a 1,000-row batch, and the largest gap
between the API's probabilities and ``predict_proba`` over every row of the dataset.

``--baseline REF`` also serves main.py and the constant handler of commit REF (extracted
with ``git archive``, each on its own code and its own server settings) in the same
rounds, interleaved, and prints both ratios: what a change costs, measured side by side.

Reproduce: ``apt-get install -y wrk && .venv/bin/python benchmarks/bench_serving.py``
(``--rounds 5 --seconds 5`` are the defaults; add ``--baseline b80ab9b`` to compare).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FF = str(Path(sys.executable).with_name("functions-framework"))
SAMPLE = json.loads((REPO / "datasets" / "sample_request.json").read_text())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """One functions-framework process group serving a target of the code at ``code``."""

    def __init__(
        self, name: str, target: str, source: Path, cwd: Path, env: dict, code: Path = REPO
    ) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [FF, "--target", target, "--source", str(source), "--host", "127.0.0.1",
             "--port", str(self.port)],
            cwd=cwd, env={**os.environ, "PYTHONPATH": str(code), **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        while True:
            try:
                status = requests.post(self.url, json=SAMPLE, timeout=5).status_code
            except requests.ConnectionError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {self.process.returncode}") from None
                time.sleep(0.01)
                continue
            if status != 200:
                self.stop()
                raise RuntimeError(f"{name} answered {status} to the sample request")
            break
        self.cold_start = time.perf_counter() - started

    def pss_mib(self) -> float:
        """Proportional set size of every process in the server's group, in MiB."""
        total = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                if os.getpgid(int(pid)) != self.process.pid:
                    continue
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except (OSError, ProcessLookupError):
                continue
        return total / 1024

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=10)


def wrk(url: str, connections: int, seconds: int, script: Path) -> dict:
    threads = min(connections, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "errors": (int(non_2xx.group(1)) if non_2xx else 0)
        + (sum(map(int, socket_errors.groups())) if socket_errors else 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--baseline", help="also serve this commit's main.py and constant handler")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")

    from benchmarks.bench_pipeline import _describe, checkout
    from heartml.data.dataset import read_dataset
    from heartml.features import FEATURES
    from heartml.model import training
    from heartml.serving import served_model
    from heartml.store import registry
    from heartml.store.backends import open_store
    from heartml.store.run_folder import save_artifacts

    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    frame = read_dataset(REPO / "datasets" / "default.csv")
    model_bytes, metrics = training.build_artifacts(
        training.train(frame), run_id="bench", dataset_sha256="0" * 64, dataset_rows=len(frame),
        git_commit=None, params=training.TrainParams(),
    )  # fmt: skip
    save_artifacts(work / "artifacts", model_bytes, metrics)
    model_path = work / "artifacts" / "pipeline.joblib"
    # main.py serves the live version of ./local-store, as `make serve` does.
    registry.publish(
        open_store(work / "local-store"), model_bytes, {**metrics, "gate": {"passed": True}}
    )
    script = work / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(json.dumps(SAMPLE))}\n"
    )
    servers_py, main_py = Path("benchmarks") / "servers.py", Path("main.py")
    # (name, target, source, code): only the tutorial's server loads the model through
    # BENCH_MODEL; main.py serves ./local-store's live version. "no-monitor" is main.py
    # with traffic monitoring off, side by side, for monitoring's overhead.
    kinds = [
        ("constant", "constant_handler", servers_py, REPO),
        ("tutorial", "tutorial_handler", servers_py, REPO),
        ("main.py", "predict_handler", main_py, REPO),
        ("no-monitor", "predict_handler", main_py, REPO),
    ]
    envs = {
        "constant": {"PIPELINE_STORE": ""},
        "tutorial": {"PIPELINE_STORE": "", "BENCH_MODEL": str(model_path)},
        "main.py": {"PIPELINE_STORE": ""},
        "no-monitor": {"PIPELINE_STORE": "", "MONITOR_ENABLED": "false"},
    }
    pairs = [("", "main.py", "constant")]
    if args.baseline:
        base = checkout(args.baseline, work / "baseline")
        tag = f"@{args.baseline}"
        kinds += [
            (f"constant{tag}", "constant_handler", servers_py, base),
            (f"main.py{tag}", "predict_handler", main_py, base),
        ]
        envs |= {f"constant{tag}": envs["constant"], f"main.py{tag}": envs["main.py"]}
        pairs.append((tag, f"main.py{tag}", f"constant{tag}"))

    def serve(name: str, target: str, source: Path, code: Path) -> Server:
        return Server(name, target, code / source, work, envs[name], code)

    current = [kind for kind in kinds if kind[3] == REPO]
    cold: dict[str, list[float]] = {name: [] for name, *_ in current}
    for _ in range(3):
        for kind in current[1:]:
            server = serve(*kind)
            cold[kind[0]].append(server.cold_start)
            server.stop()

    servers = [serve(*kind) for kind in kinds]
    results: dict[tuple[str, int], list[dict]] = {}
    peak_mib = {s.name: s.pss_mib() for s in servers}
    print(f"serving benchmark (wrk): {args.rounds} rounds x {args.seconds} s per server and load")
    if args.baseline:
        print(f"  baseline {args.baseline} = {_describe(args.baseline)}")
    for number in range(1, args.rounds + 1):
        for connections in (1, 32):
            for server in servers:
                stop = threading.Event()

                def sample(server: Server = server, stop: threading.Event = stop) -> None:
                    while not stop.wait(0.2):
                        peak_mib[server.name] = max(peak_mib[server.name], server.pss_mib())

                sampler = threading.Thread(target=sample)
                sampler.start()
                result = wrk(server.url, connections, args.seconds, script)
                stop.set()
                sampler.join()
                results.setdefault((server.name, connections), []).append(result)
            shown = ", ".join(
                f"{s.name} {results[(s.name, connections)][-1]['rps']:.0f}" for s in servers
            )
            ratios = ", ".join(
                f"main.py/constant{tag} "
                f"{_round_ratio(results, ours_name, floor, connections, -1):.3f}"
                for tag, ours_name, floor in pairs
            )
            print(f"round {number} c={connections:<2} req/s: {shown}; {ratios}")

    ours = next(s for s in servers if s.name == "main.py")
    rows = json.loads(frame[list(FEATURES)].to_json(orient="records"))
    batch_ms = []
    for _ in range(20):
        started = time.perf_counter()
        response = requests.post(ours.url, json={"instances": (rows * 4)[:1000]}, timeout=30)
        batch_ms.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    got = [
        p["probability"]
        for p in requests.post(ours.url, json={"instances": rows}).json()["predictions"]
    ]
    pipeline = served_model.load_trained(model_path.parent).pipeline
    import pandas as pd

    expected = pipeline.predict_proba(pd.DataFrame(rows, dtype=float))[:, 1]
    gap = max(abs(a - b) for a, b in zip(got, expected, strict=True))
    for server in servers:
        server.stop()
    shutil.rmtree(work)

    def med(name: str, connections: int, key: str) -> float:
        return statistics.median(r[key] for r in results[(name, connections)])

    print(f"medians over {args.rounds} rounds:")
    print(f"{'server':<18} {'conc':>4} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for connections in (1, 32):
        for name, *_ in kinds:
            errors = sum(r["errors"] for r in results[(name, connections)])
            rps, p50, p99 = (med(name, connections, key) for key in ("rps", "p50", "p99"))
            print(f"{name:<18} {connections:>4} {rps:>9.0f} {p50:>8.2f} {p99:>8.2f} {errors:>7}")
    for connections in (1, 32):
        ratio = {
            tag: statistics.median(
                _round_ratio(results, ours_name, floor, connections, i) for i in range(args.rounds)
            )
            for tag, ours_name, floor in pairs
        }
        line = (
            f"ratio at concurrency {connections} (median of per-round ratios): main.py / constant"
            f" = {ratio['']:.3f}, main.py / tutorial = "
            f"{med('main.py', connections, 'rps') / med('tutorial', connections, 'rps'):.1f}"
        )
        if args.baseline:
            tag = f"@{args.baseline}"
            line += f"; at {args.baseline}: {ratio[tag]:.3f} (change {ratio[''] - ratio[tag]:+.3f})"
        print(line)
    for connections in (1, 32):
        on, off = (med(name, connections, "rps") for name in ("main.py", "no-monitor"))
        print(
            f"monitoring at concurrency {connections}: main.py (on) / no-monitor (off) = "
            f"{on / off:.3f} in requests/s"
        )
    tutorial_cold, ours_cold = (
        statistics.median(cold["tutorial"]),
        statistics.median(cold["main.py"]),
    )
    print(
        "cold start, process start to first answer (median of 3): "
        f"tutorial {tutorial_cold:.2f} s, main.py {ours_cold:.2f} s"
    )
    print(
        "peak PSS of the serving processes (gunicorn master + worker) under load: "
        + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in peak_mib.items())
    )
    print(
        f"1,000-row batch, client-side latency (median of 20): {statistics.median(batch_ms):.1f} ms"
    )
    print(f"largest |API probability - predict_proba| over the {len(rows)} rows: {gap:.2e}")
    again = f" --baseline {args.baseline}" if args.baseline else ""
    print(
        "reproduce: apt-get install -y wrk && .venv/bin/python benchmarks/bench_serving.py"
        f" --rounds {args.rounds} --seconds {args.seconds}{again}"
    )


def _round_ratio(
    results: dict[tuple[str, int], list[dict]], ours: str, floor: str, connections: int, i: int
) -> float:
    """One round's requests/s of ``ours`` over ``floor``, measured back to back."""
    return results[(ours, connections)][i]["rps"] / results[(floor, connections)][i]["rps"]


if __name__ == "__main__":
    main()
