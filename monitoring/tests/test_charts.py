"""Tests of monitoring.charts: the overview's SVG geometry (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from monitoring import charts

T0 = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 1), (0.3, 0.5), (7, 10), (10, 10), (11, 20), (230, 250), (1001, 2000)],
)
def test_it_picks_a_round_axis_top(value, expected):
    assert charts.nice_ceiling(value) == expected


def test_it_places_points_by_time_and_value():
    chart = charts.line_chart(
        [{"name": "drift", "css": "drift", "points": [(T0, 0.0), (T0 + timedelta(hours=6), 1.0)]}],
        threshold=0.3,
    )

    first, last = chart["lines"][0]["dots"]
    assert (first["x"], first["y"]) == (chart["left"], chart["bottom"])
    assert (last["x"], last["y"]) == (chart["right"], chart["top"])
    assert chart["threshold"]["y"] == pytest.approx(
        chart["bottom"] - 0.3 * chart["plot_height"], abs=0.1
    )
    assert chart["lines"][0]["points"] == f"{first['x']},{first['y']} {last['x']},{last['y']}"
    assert chart["empty"] is False


def test_it_leaves_gaps_for_missing_values_and_says_when_empty():
    chart = charts.line_chart([{"name": "f1", "css": "f1", "points": [(T0, None)]}])

    assert chart["empty"] is True
    assert chart["lines"][0]["dots"] == []


def test_it_draws_bars_proportional_to_the_counts():
    days = [
        {"day": date(2025, 3, d), "predictions": n, "feedback": n // 4}
        for d, n in ((1, 40), (2, 100))
    ]

    chart = charts.bar_chart(days, [("predictions", "p"), ("feedback", "f")])

    heights = [bar["height"] for bar in chart["bars"]]
    assert heights[2] == pytest.approx(chart["plot_height"])  # 100 on a 0..100 axis
    assert heights[0] == pytest.approx(0.4 * chart["plot_height"], abs=0.1)
    assert heights[1] == pytest.approx(0.1 * chart["plot_height"], abs=0.1)
    assert chart["bars"][0]["title"] == "2025-03-01: 40 predictions"


def test_it_scales_feature_bars_on_one_axis_with_threshold_ticks():
    chart = charts.feature_bars(
        {
            "Age": {"method": "Wasserstein", "score": 0.05, "threshold": 0.1, "drifted": False},
            "Stress_Level": {
                "method": "Wasserstein",
                "score": 2.0,
                "threshold": 0.1,
                "drifted": True,
            },
            "CGPA": {"method": "all_missing", "score": None, "threshold": None, "drifted": True},
        }
    )

    age, stress, cgpa = chart["rows"]
    assert stress["width"] == pytest.approx(40 * age["width"], rel=0.01)
    assert age["tick_x"] == stress["tick_x"]
    assert (cgpa["width"], cgpa["tick_x"], cgpa["score"]) == (0, None, "—")
    assert [r["drifted"] for r in chart["rows"]] == [False, True, True]
