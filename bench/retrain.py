"""Hand-run benchmark: one full retrain (three candidates) on R reference + P production rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench DEBUG=1 \\
        .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench DEBUG=1 \\
        .venv/bin/python -m bench.retrain [--reference 100000] [--production 10000]

It writes to the configured database and ARTIFACTS_DIR / ARCHIVE_DIR, so point it at a
database of its own. Preparation (not timed): generated reference rows up to --reference, a
model in service (trained on them) if there is none, and labelled production rows (predictions
answered by that model, with the generator's outcome as feedback) until --production rows are
unconsumed. Then `manage.py retrain --force` runs in a fresh process, and its wall time and
peak resident memory (of that process alone) are printed with the run's step timings.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time


def _prepare(reference: int, production: int) -> None:
    from predictions import selectors as prediction_selectors
    from predictions import services as prediction_services
    from predictions.models import Feedback
    from training import datagen, selectors, services
    from training.features import FEATURE_NAMES, TARGET

    have = selectors.reference_count()
    if have < reference:
        services.dataset_generate(rows=reference - have, seed=1 + have)
    if selectors.active_model_version() is None:
        services.model_train_initial()
    missing = production - prediction_selectors.unconsumed_feedback_count()
    seed = 1000 + prediction_selectors.feedback_count()
    while missing > 0:
        frame = datagen.generate_students(min(missing, 5000), seed=seed)
        frame["Physical_Activity"] = frame["Physical_Activity"].fillna(60)
        features = [
            {name: _cast(name, record[name]) for name in FEATURE_NAMES}
            for record in frame.to_dict("records")
        ]
        predictions = prediction_services.prediction_create_many(features)
        Feedback.objects.bulk_create(
            Feedback(prediction=p, actual=bool(actual))
            for p, actual in zip(predictions, frame[TARGET], strict=True)
        )
        missing -= len(frame)
        seed += 1
    print(
        f"prepared: {selectors.reference_count()} reference rows, "
        f"{prediction_selectors.unconsumed_feedback_count()} unconsumed labelled rows"
    )


def _cast(name: str, value):
    return int(value) if name in ("Age", "Physical_Activity", "Stress_Level") else value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=int, default=100_000)
    parser.add_argument("--production", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.main")
    import django

    django.setup()
    _prepare(args.reference, args.production)
    started = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "retrain", "--force"], check=True)
    wall = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"retrain process: {wall:.1f} s wall (start-up included), peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
