"""Hand-run benchmark: one monitoring run (three Evidently reports) on a large window.

    .venv/bin/python bench/monitoring_reports.py [--reference-rows 100000]
        [--current-rows 10000] [--labelled 10000] [--repeat 1]

What it does, in a throw-away folder (nothing is written to the project):

1. migrates a fresh SQLite database (or the one in DATABASE_URL: use an empty one),
2. trains and activates a model on `--reference-rows` generated students, so that the active
   version's reference file holds that many rows (the training data, all splits),
3. writes `--current-rows` predictions made in the last hour, scored by that model, with
   feedback on the first `--labelled` of them,
4. runs `monitoring.services.reports_run()` in a fresh child process, the way a worker does,
   and prints its wall time, the time of each report and the child's peak memory (maximum
   resident set size, from the kernel's accounting of that process; it includes importing
   Django, pandas, scikit-learn and Evidently).

Steps 1-3 are set-up and not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _environment(folder: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.main")
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(64))
    env["VAR_DIR"] = str(folder / "var")
    env["ARTIFACTS_DIR"] = str(folder / "artifacts")
    env["REPORTS_DIR"] = str(folder / "reports")
    env["ARCHIVE_DIR"] = str(folder / "archive")
    env.setdefault("LOG_LEVEL", "WARNING")
    return env


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare(reference_rows: int, current_rows: int, labelled: int) -> None:
    """Steps 1-3 (runs in the parent, with the folder's environment already applied)."""
    _setup_django()
    import numpy as np
    from django.core.management import call_command

    from predictions.models import Feedback, Prediction
    from training import datagen, services, serving
    from training.features import FEATURE_NAMES, TARGET
    from training.selectors import FIELD_OF

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    outcome = services.model_train(datagen.generate_students(reference_rows, seed=1))
    version = services.model_activate(services.model_register(outcome), reason="benchmark")
    print(f"set-up: trained v{version.version} on {reference_rows} rows", end="")
    print(f" in {time.perf_counter() - started:.1f} s")

    loaded = serving.get_active_model()
    frame = datagen.generate_students(current_rows * 2, seed=2).dropna(subset=FEATURE_NAMES)
    frame = frame.head(current_rows).reset_index(drop=True)
    probability = np.asarray(loaded.predictor.predict_proba(frame[list(FEATURE_NAMES)]))
    predictions = [
        Prediction(
            **{FIELD_OF[name]: row[name] for name in FEATURE_NAMES},
            probability=float(p),
            label=bool(p >= loaded.threshold),
            threshold=loaded.threshold,
            model_version_id=loaded.version_id,
            channel=Prediction.Channel.BATCH,
        )
        for row, p in zip(frame.to_dict("records"), probability, strict=True)
    ]
    Prediction.objects.bulk_create(predictions, batch_size=2000)
    actual = frame[TARGET].astype(bool).tolist()
    Feedback.objects.bulk_create(
        (Feedback(prediction=p, actual=actual[i]) for i, p in enumerate(predictions[:labelled])),
        batch_size=2000,
    )
    print(f"set-up: {len(predictions)} predictions, {min(labelled, len(predictions))} labelled")


def child() -> None:
    """Step 4, in its own process: one run, then its numbers as JSON on the last line."""
    started = time.perf_counter()
    _setup_django()
    from monitoring import services

    imported = time.perf_counter()
    run = services.reports_run(trigger="benchmark")
    finished = time.perf_counter()
    reports = {
        r.kind: {
            "status": r.status,
            "seconds": r.duration_seconds,
            "reference_rows": r.reference_rows,
            "current_rows": r.current_rows,
            "error": r.error,
        }
        for r in run.reports.all()
    }
    print(
        json.dumps(
            {
                "status": run.status,
                "import_seconds": imported - started,
                "run_seconds": finished - imported,
                "reports": reports,
            }
        )
    )


def measure(env: dict[str, str]) -> dict:
    process = subprocess.Popen(
        [sys.executable, __file__, "--child"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    started = time.perf_counter()
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"child failed ({process.returncode}):\n{output}")
    result = json.loads(output.strip().splitlines()[-1])
    result["process_seconds"] = wall
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--current-rows", type=int, default=10_000)
    parser.add_argument("--labelled", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs to measure, one by one")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return

    with tempfile.TemporaryDirectory(prefix="mindpulse-bench-") as folder:
        env = _environment(Path(folder))
        os.environ.update(env)
        prepare(args.reference_rows, args.current_rows, args.labelled)
        for i in range(args.repeat):
            result = measure(env)
            print(f"\nrun {i + 1}: {result['status']}")
            print(f"  reports_run():       {result['run_seconds']:6.2f} s")
            print(f"  process (+ imports): {result['process_seconds']:6.2f} s")
            print(f"  peak RSS of process: {result['peak_rss_mb']:6.0f} MB")
            for kind, report in result["reports"].items():
                print(
                    f"  {kind:<18} {report['status']:<8} {report['seconds']:6.2f} s  "
                    f"{report['current_rows']} current / {report['reference_rows']} reference "
                    f"{report['error']}"
                )


if __name__ == "__main__":
    main()
