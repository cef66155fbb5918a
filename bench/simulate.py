"""`make bench-loop`: the full-length loop simulations of issue 12, timed.

    .venv/bin/python -m bench.simulate [--scenarios stable,covariate_shift] [--days 90]
        [--per-day 500] [--feedback-rate 0.1] [--seed 0] [--out var/bench-loop]

Each scenario runs `manage.py simulate` in a child process (its own throw-away database on
the configured DATABASE_URL, or SQLite), and its wall time is measured around the process.
The charts (charts.svg) of each run are copied to docs/loop-<scenario>.svg, and the figures
and checks go to <out>/results.json and the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="stable,covariate_shift")
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--per-day", type=int, default=500)
    parser.add_argument("--feedback-rate", type=float, default=0.1)
    parser.add_argument("--shift-day", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(BASE / "var" / "bench-loop"))
    parser.add_argument("--charts-to", default=str(BASE / "docs"))
    args = parser.parse_args(argv)
    results = {}
    for scenario in args.scenarios.split(","):
        out = Path(args.out) / scenario
        command = [
            sys.executable,
            "manage.py",
            "simulate",
            f"--scenario={scenario}",
            f"--days={args.days}",
            f"--per-day={args.per_day}",
            f"--feedback-rate={args.feedback_rate}",
            f"--shift-day={args.shift_day}",
            f"--seed={args.seed}",
            f"--out={out}",
        ]
        env = {**os.environ, "DEBUG": os.environ.get("DEBUG", "true"), "LOG_LEVEL": "WARNING"}
        started = time.perf_counter()
        subprocess.run(command, cwd=BASE, env=env, check=True)
        wall = round(time.perf_counter() - started, 1)
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        results[scenario] = {"process_wall_seconds": wall, **summary}
        if args.charts_to:
            shutil.copy(out / "charts.svg", Path(args.charts_to) / f"loop-{scenario}.svg")
        print(f"{scenario}: {wall} s wall", flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
