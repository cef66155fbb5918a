"""The measurement behind DRIFT_MIN_ROWS: false drift of stable traffic by window size.

    DJANGO_SETTINGS_MODULE=mindpulse.settings.test .venv/bin/python -m bench.drift_min_rows \
        100,200,300,500,750,1000 10

For each window size, `seeds` windows of stable simulated traffic (mindpulse.simulator) are
compared with 20,000 generated reference rows by the drift report's own function
(monitoring.drift.data_drift); it prints how many of the nine features each window flags.
Stable traffic has no drift: every flagged feature is noise.
"""

import json
import sys

import django
import numpy as np


def main() -> None:
    django.setup()
    from mindpulse.simulator import traffic
    from monitoring import drift
    from training import datagen

    reference = datagen.generate_students(20000, 1, blank_rate=0)
    sizes = [int(x) for x in sys.argv[1].split(",")]
    seeds = range(int(sys.argv[2]))
    for rows in sizes:
        counts = []
        for seed in seeds:
            current = traffic.students(rows, np.random.default_rng(1000 + seed))
            counts.append(
                len(drift.data_drift(reference, current, threshold=0.2)["drifted_features"])
            )
        print(
            json.dumps({"rows": rows, "drifted_features": counts, "max": max(counts)}), flush=True
        )


if __name__ == "__main__":
    main()
