"""The measurement behind DRIFT_MIN_ROWS: false drift of stable traffic by window size.

    DJANGO_SETTINGS_MODULE=mindpulse.settings.test .venv/bin/python -m bench.drift_min_rows \
        100,200,300,500,750,1000 40

For each window size, `seeds` windows of stable simulated traffic (mindpulse.simulator) are
compared with 20,000 generated reference rows by the drift report's own function
(monitoring.drift.data_drift, per-column method pinned to normed Wasserstein / Jensen-Shannon
at 0.1); it prints how many of the nine features each window flags, how many windows would be
called drift at DRIFT_THRESHOLD 0.2 (two features or more), which features flagged, and the
same for windows of the covariate_shift scenario after its shift day (which must be flagged).
Stable traffic has no drift: every flagged feature is noise.
"""

import collections
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
    shifted = traffic.Scenario("covariate_shift", 0)
    for rows in sizes:
        out = {"rows": rows}
        for name, draw in (
            ("stable", lambda rng, rows=rows: traffic.students(rows, rng)),
            ("covariate_shift", lambda rng, rows=rows: traffic.traffic(shifted, 1, rows, rng)),
        ):
            counts, drifts, by_feature = [], 0, collections.Counter()
            for seed in seeds:
                current = draw(np.random.default_rng(1000 + seed))
                summary = drift.data_drift(reference, current, threshold=0.2)
                counts.append(summary["drifted_count"])
                drifts += summary["dataset_drift"]
                by_feature.update(summary["drifted_features"])
            out[name] = {
                "drifted_features": counts,
                "max": max(counts),
                "windows_called_drift": f"{drifts}/{len(counts)}",
                "by_feature": dict(by_feature),
            }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
