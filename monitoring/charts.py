"""Geometry of the overview's charts, rendered as inline SVG by the admin templates.

Pure Python, no Django: each function turns plain series into coordinates and labels, so the
page needs no JavaScript library and no CDN (the servers may have no internet access).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

WIDTH = 640
HEIGHT = 220
MARGIN = {"left": 44, "right": 12, "top": 12, "bottom": 28}


def _frame(width: int, height: int) -> dict:
    return {
        "width": width,
        "height": height,
        "left": MARGIN["left"],
        "top": MARGIN["top"],
        "right": width - MARGIN["right"],
        "bottom": height - MARGIN["bottom"],
        "plot_width": width - MARGIN["left"] - MARGIN["right"],
        "plot_height": height - MARGIN["top"] - MARGIN["bottom"],
    }


def _y(frame: dict, value: float, top_value: float) -> float:
    return round(frame["bottom"] - frame["plot_height"] * value / top_value, 1)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value (an axis top); 1 for 0."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def _label(value: float) -> str:
    return f"{value:g}" if value >= 1 or value == 0 else f"{value:.2f}"


def line_chart(
    lines: list[dict],
    *,
    top: float = 1.0,
    threshold: float | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> dict:
    """Lines over time on a 0..top axis.

    `lines`: [{"name", "css", "points": [(datetime, value or None)]}]; a None value leaves a
    gap. X is proportional to time across all lines.
    """
    frame = _frame(width, height)
    times: list[datetime] = [
        at for line in lines for at, value in line["points"] if value is not None
    ]
    now = datetime.now(tz=UTC)
    start, end = (min(times), max(times)) if times else (now, now)  # no times: no x used
    span = (end - start).total_seconds()

    def x(at: datetime) -> float:
        if not span:
            return round(frame["left"] + frame["plot_width"] / 2, 1)
        return round(frame["left"] + frame["plot_width"] * (at - start).total_seconds() / span, 1)

    drawn = []
    for line in lines:
        dots = [
            {"x": x(at), "y": _y(frame, min(value, top), top), "title": _title(at, value)}
            for at, value in line["points"]
            if value is not None
        ]
        drawn.append(
            {
                "name": line["name"],
                "css": line["css"],
                "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
                "dots": dots,
            }
        )
    x_ticks = []
    if times:
        x_ticks = [{"x": x(start), "label": f"{start:%m-%d %H:%M}", "anchor": "start"}]
        if span:
            x_ticks.append({"x": x(end), "label": f"{end:%m-%d %H:%M}", "anchor": "end"})
    return {
        **frame,
        "lines": drawn,
        "empty": not times,
        "y_ticks": _y_ticks(frame, top),
        "x_ticks": x_ticks,
        "threshold": (
            None
            if threshold is None
            else {"y": _y(frame, min(threshold, top), top), "label": _label(threshold)}
        ),
    }


def _y_ticks(frame: dict, top: float) -> list[dict]:
    return [{"y": _y(frame, top * i / 4, top), "label": _label(top * i / 4)} for i in range(5)]


def _title(at: datetime, value: float) -> str:
    return f"{at:%Y-%m-%d %H:%M}: {value:.3f}"


def bar_chart(
    days: list[dict], keys: list[tuple[str, str]], *, width: int = WIDTH, height: int = HEIGHT
) -> dict:
    """Grouped bars per day: `days` = [{"day": date, key: count}], `keys` = [(key, css)]."""
    frame = _frame(width, height)
    top = nice_ceiling(max((row[k] for row in days for k, _ in keys), default=0))
    slot = frame["plot_width"] / max(len(days), 1)
    bar = max(slot * 0.8 / max(len(keys), 1), 1)
    bars, x_ticks = [], []
    every = max(1, math.ceil(len(days) / 6))
    for i, row in enumerate(days):
        left = frame["left"] + slot * i + slot * 0.1
        for j, (key, css) in enumerate(keys):
            y = _y(frame, row[key], top)
            bars.append(
                {
                    "x": round(left + bar * j, 1),
                    "y": y,
                    "width": round(bar, 1),
                    "height": round(frame["bottom"] - y, 1),
                    "css": css,
                    "title": f"{_day(row['day'])}: {row[key]} {key}",
                }
            )
        if i % every == 0:
            x_ticks.append({"x": round(left + slot * 0.4, 1), "label": f"{row['day']:%m-%d}"})
    return {
        **frame,
        "bars": bars,
        "x_ticks": x_ticks,
        "empty": not any(row[k] for row in days for k, _ in keys),
        "y_ticks": _y_ticks(frame, top),
    }


def _day(day: date) -> str:
    return f"{day:%Y-%m-%d}"


def feature_bars(features: dict[str, dict], *, width: int = WIDTH) -> dict:
    """One horizontal bar per feature: its drift score, a tick at its threshold.

    `features` is a drift summary's per-feature dict (method, score, threshold, drifted).
    All bars share one scale so that scores are comparable within a report.
    """
    row_height, label_width, right = 26, 150, 70
    values = [v for f in features.values() for v in (f.get("score"), f.get("threshold")) if v]
    top = max(values, default=1.0) * 1.1
    plot = width - label_width - right
    rows = []
    for i, (name, result) in enumerate(features.items()):
        score, limit = result.get("score"), result.get("threshold")
        y = i * row_height + 4
        rows.append(
            {
                "name": name,
                "y": y,
                "text_y": y + row_height / 2 + 1,
                "height": row_height - 8,
                "width": round(plot * min(score or 0, top) / top, 1),
                "tick_x": None if limit is None else round(label_width + plot * limit / top, 1),
                "score": "—" if score is None else f"{score:.3f}",
                "method": result.get("method", ""),
                "threshold": limit,
                "drifted": bool(result.get("drifted")),
            }
        )
    return {
        "width": width,
        "height": row_height * len(rows) + 8,
        "label_width": label_width,
        "value_x": width - right + 6,
        "rows": rows,
    }
