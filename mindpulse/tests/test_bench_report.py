"""bench/report.py's targets for the calibrated fast path: the figure, its limit and the
verdict that `make bench` prints (the timings themselves belong to the benchmark)."""

from __future__ import annotations

from bench import report
from bench.children import CALIBRATION_BUDGET_US


def results(extra_us: float, *, compiled: bool = True) -> dict:
    candidate = {
        "file_mb": 1.5,
        "fast_one_us": 20.0,
        "calibrated_one_us": 20.0 + extra_us,
        "uncalibrated_paired_one_us": 20.0,
        "calibrated_extra_us": extra_us,
        "calibrated_compiled": compiled,
        "calibrated_knots": 40,
    }
    return {"steps": {"model": {"candidates": {"random_forest": candidate, "xgboost": candidate}}}}


def calibration_rows(found: dict) -> dict:
    return {name: row for name, *row in report.targets(found) if "calibrated" in name}


def test_it_states_the_calibrated_path_target_for_the_forest_and_xgboost():
    rows = calibration_rows(results(0.4))

    assert len(rows) == 2
    for name, (limit, measured, met) in rows.items():
        assert name.split(":")[0] in ("random_forest", "xgboost")
        assert limit == f"≤ {CALIBRATION_BUDGET_US:g} µs"
        assert measured == "0.4 µs"
        assert met is True


def test_it_fails_the_target_above_the_budget_or_when_not_compiled():
    over = calibration_rows(results(CALIBRATION_BUDGET_US + 0.5))
    slow_path = calibration_rows(results(0.1, compiled=False))

    assert all(met is False for _, _, met in over.values())
    assert all(met is False for _, _, met in slow_path.values())
