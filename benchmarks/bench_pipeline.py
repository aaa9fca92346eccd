"""The loop's cost as the dataset grows: every step as its own process, as the workflow runs it.

For each size (the shipped 303 rows, then the shipped rows resampled with noise to a
million and ten million distinct rows) a store is primed with "yesterday's" data and a
live model, then "today's" data is published and the loop is timed step by step:
download, validate, train, gate, upload, report. Each step's wall time and peak memory
(its maximum resident set, from ``wait4``) are printed, beside the same loop run by an
older commit of this repository when ``--baseline REV`` is given (checked out with
``git archive`` into a temporary folder, run with the same interpreter and data, the two
interleaved repeat by repeat so that the machine's drift hits both alike).

Start-up is timed too: ``python -m steps.NAME --help`` imports everything a step needs
and exits before doing any work.

Reproduce::

    .venv/bin/python benchmarks/bench_pipeline.py --rows 303,1000000,10000000 \\
        --baseline 09a7b1c --baseline-max-rows 1000000

Generated datasets are cached in ``$TMPDIR/heartml-bench`` (10M rows is 450 MB).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "datasets" / "default.csv"
CACHE = Path(tempfile.gettempdir()) / "heartml-bench"
STEPS = ("download", "validate", "train", "gate", "upload", "report")
STARTUP_STEPS = ("download", "validate", "train", "gate", "upload", "report", "history")
SETTING_PREFIXES = ("PIPELINE_", "TRAIN_", "VALIDATE_", "GATE_", "DATASET_", "GITHUB_", "REPORT_")


def dataset(rows: int, seed: int) -> Path:
    """Return a CSV of ``rows`` distinct rows: the shipped data itself, or resampled with noise.

    Drawn in a child process: this one stays small, because a child's peak memory as
    ``wait4`` reports it starts from its parent's size at fork.
    """
    if rows == 303:
        return SHIPPED
    path = CACHE / f"heart-{rows}-seed{seed}.csv"
    if not path.exists():
        subprocess.run(
            [sys.executable, __file__, "--generate", str(rows), str(seed), str(path)], check=True
        )
    return path


def generate(rows: int, seed: int, path: Path) -> None:
    """Write ``rows`` distinct rows drawn from the shipped data with noise to ``path``."""
    sys.path.insert(0, str(REPO))
    from tests.cases import resampled

    path.parent.mkdir(parents=True, exist_ok=True)
    frame = resampled(rows, seed)
    partial = path.with_suffix(".part")
    frame.to_csv(partial, index=False)
    partial.replace(path)


@dataclass
class Step:
    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)


def run_step(
    code: Path, step: str, args: list[str], env: dict[str, str]
) -> tuple[float, float, int]:
    """Run one step as its own process; return wall seconds, peak RSS in MiB, exit code."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", f"steps.{step}", *args],
        cwd=code,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    errors = process.stderr.read()  # drained before wait4, so a chatty step never blocks
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 1):
        sys.stderr.write(errors.decode(errors="replace"))
        raise SystemExit(f"{code.name}: steps.{step} crashed ({process.returncode})")
    return seconds, usage.ru_maxrss / 1024, process.returncode  # ru_maxrss is in KiB on Linux


def loop(code: Path, work: Path, data: Path) -> dict[str, tuple[float, float, int]]:
    """Publish ``data`` to the store in ``work`` and run the loop once; return each step's cost."""
    # This shell's environment without any setting of the pipeline's, so both versions
    # run on their defaults against this work folder's store.
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env["PIPELINE_STORE"] = str(work / "store")
    local = work / "dataset.csv"
    out, reports = work / "artifacts", work / "reports"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(reports, ignore_errors=True)
    published = run_step(code, "upload_dataset", ["--source", str(data)], env)
    if published[2]:
        raise SystemExit(f"{code.name}: could not publish {data}")
    arguments = {
        "download": ["--dest", str(local)],
        "validate": ["--path", str(local), "--reports", str(reports)],
        "train": ["--path", str(local), "--out", str(out)],
        "gate": ["--artifacts", str(out), "--reports", str(reports), *gate_reads(code, local)],
        "upload": ["--artifacts", str(out), "--path", str(local)],
        "report": ["--reports", str(reports), "--artifacts", str(out)],
    }
    return {step: run_step(code, step, arguments[step], env) for step in STEPS}


def gate_reads(code: Path, local: Path) -> list[str]:
    """Older gates parsed and split the dataset again (``--path``); today's read train's rows."""
    gate = (code / "steps" / "gate.py").read_text()
    return ["--path", str(local)] if '"--path"' in gate else []


def checkout(rev: str, into: Path) -> Path:
    """Extract commit ``rev`` of this repository into ``into`` (no worktree, nothing to clean)."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=REPO, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def startup(code: Path, repeats: int) -> dict[str, float]:
    """Median seconds of ``python -m steps.NAME --help`` for each step."""
    times: dict[str, list[float]] = {step: [] for step in STARTUP_STEPS}
    for _ in range(repeats):
        for step in STARTUP_STEPS:
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", f"steps.{step}", "--help"],
                cwd=code,
                capture_output=True,
                check=True,
            )
            times[step].append(time.perf_counter() - started)
    return {step: statistics.median(values) for step, values in times.items()}


def measure(
    codes: dict[str, Path], rows: int, repeats: int, scratch: Path
) -> dict[str, dict[str, Step]]:
    """Prime one store per code version with yesterday's data, then time today's loop."""
    yesterday, today = dataset(rows, seed=1), dataset(rows, seed=2)
    results: dict[str, dict[str, Step]] = {name: {s: Step() for s in STEPS} for name in codes}
    primed: dict[str, Path] = {}
    for name, code in codes.items():
        primed[name] = scratch / f"{name}-{rows}-primed"
        loop(code, primed[name], yesterday)  # a live model and its dataset: drift has a reference
    for _ in range(repeats):
        for name, code in codes.items():
            work = scratch / f"{name}-{rows}-run"
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(primed[name], work)
            for step, (seconds, peak, code_) in loop(code, work, today).items():
                results[name][step].seconds.append(seconds)
                results[name][step].peak_mib.append(peak)
                results[name][step].exit_codes.append(code_)
            shutil.rmtree(work)
    for name in codes:
        shutil.rmtree(primed[name])
    return results


def print_size(rows: int, results: dict[str, dict[str, Step]]) -> None:
    names = list(results)
    print(f"\n{rows:,} rows (medians of {len(results[names[0]]['train'].seconds)})")
    header = "  step      " + "".join(f"{n + ' s':>14}{n + ' MiB':>14}" for n in names)
    if len(names) == 2:
        header += f"{'time ratio':>12}"
    print(header)
    totals = {}
    for step in STEPS:
        line = f"  {step:<10}"
        seconds = {}
        for name in names:
            cost = results[name][step]
            seconds[name] = statistics.median(cost.seconds)
            failed = "!" if any(cost.exit_codes) else " "
            line += f"{seconds[name]:>13.2f}{failed}{max(cost.peak_mib):>14.0f}"
        if len(names) == 2:
            line += f"{seconds[names[0]] / seconds[names[1]]:>12.2f}"
        print(line)
    for name in names:
        per_run = [sum(run) for run in zip(*(results[name][s].seconds for s in STEPS), strict=True)]
        totals[name] = statistics.median(per_run)
    line = f"  {'loop':<10}" + "".join(
        f"{totals[n]:>13.2f} {max(max(results[n][s].peak_mib) for s in STEPS):>14.0f}"
        for n in names
    )
    if len(names) == 2:
        line += f"{totals[names[0]] / totals[names[1]]:>12.2f}"
    print(line)
    print("  (! = the step exited 1: a held-back candidate or a failed check; MiB = peak RSS)")


def main() -> None:
    if sys.argv[1:2] == ["--generate"]:
        generate(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default="303,1000000,10000000", help="comma-separated sizes")
    parser.add_argument("--baseline", help="an older commit to run side by side")
    parser.add_argument(
        "--baseline-max-rows", type=int, default=1_000_000, help="largest size the baseline runs"
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed loops per size up to 1M")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="heartml-bench-") as tmp:
        scratch = Path(tmp)
        codes = {"current": REPO}
        if args.baseline:
            codes["baseline"] = checkout(args.baseline, scratch / "baseline")
        print("heart-disease loop at scale: each step its own process, local-folder store")
        print(f"  current = {_describe('HEAD')}")
        if args.baseline:
            print(f"  baseline = {_describe(args.baseline)}")
        up = {name: startup(code, 5) for name, code in codes.items()}
        print("\nstart-up, `python -m steps.NAME --help` (imports + flags), medians of 5")
        for step in STARTUP_STEPS:
            shown = "".join(f"{name} {up[name][step]:6.2f} s   " for name in codes)
            ratio = ""
            if args.baseline:
                ratio = f"ratio {up['current'][step] / up['baseline'][step]:.2f}"
            print(f"  {step:<10} {shown}{ratio}")
        for rows in (int(r) for r in args.rows.split(",")):
            repeats = args.repeats if rows <= 1_000_000 else 1
            running = {
                n: c for n, c in codes.items() if n == "current" or rows <= args.baseline_max_rows
            }
            print_size(rows, measure(running, rows, repeats, scratch))
    print(
        "\nreproduce: .venv/bin/python benchmarks/bench_pipeline.py"
        + (f" --rows {args.rows}" if args.rows != parser.get_default("rows") else "")
        + (f" --baseline {args.baseline}" if args.baseline else "")
        + f" --baseline-max-rows {args.baseline_max_rows} --repeats {args.repeats}"
    )


def _describe(rev: str) -> str:
    out = subprocess.run(
        ["git", "log", "-1", "--format=%h %s", rev], cwd=REPO, capture_output=True, text=True
    )
    return out.stdout.strip()[:90]


if __name__ == "__main__":
    main()
