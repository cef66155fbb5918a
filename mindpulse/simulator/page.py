"""One self-contained HTML page of a simulated run: inline SVG charts, no script, no CDN.

Charts: the drift share of every drift report (with DRIFT_THRESHOLD), production accuracy,
F1 and ROC AUC of every performance report, the same ROC AUC and F1 beside their CBPE
estimates (dashed; estimated from the scores alone, on every report, labelled or not), the
version in service, and the events (retrains by decision, alerts by severity) on the same
time axis; then the summary table.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path

WIDTH, HEIGHT, PAD = 900, 170, 40
COLOURS = {
    "drift_share": "#2f80ed",
    "accuracy": "#27ae60",
    "f1": "#9b51e0",
    "roc_auc": "#f2994a",
    "version": "#333333",
    "promoted": "#27ae60",
    "rejected": "#f2994a",
    "failed": "#eb5757",
    "critical": "#eb5757",
    "warning": "#f2c94c",
    "info": "#56ccf2",
}


def write_page(path: Path, events: list[dict], summary: dict) -> None:
    """index.html (charts and the summary table) and charts.svg (the charts alone)."""
    path.write_text(render(events, summary), encoding="utf-8")
    charts = _charts(events, summary)
    total = len(charts) * (HEIGHT + 20)
    stacked = "".join(
        f'<g transform="translate(0,{i * (HEIGHT + 20)})">{chart}</g>'
        for i, chart in enumerate(charts)
    )
    (path.parent / "charts.svg").write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{total}">'
        f'<rect width="100%" height="100%" fill="white"/>{stacked}</svg>',
        encoding="utf-8",
    )


def render(events: list[dict], summary: dict) -> str:
    charts = _charts(events, summary)
    title = f"MindPulse loop simulation: {summary.get('scenario')}, {summary.get('days')} days"
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(_fmt(v))}</code></td></tr>"
        for k, v in summary.items()
        if k != "email_subjects"
    )
    return (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em;max-width:960px}"
        "th{text-align:left;vertical-align:top;padding-right:1em}td code{white-space:pre-wrap}"
        "svg{display:block;margin:.5em 0 1.5em}</style>"
        f"<h1>{html.escape(title)}</h1>{''.join(charts)}<h2>Summary</h2><table>{rows}</table>"
    )


def _charts(events: list[dict], summary: dict) -> list[str]:
    times = [_t(e) for e in events if e["type"] in ("day", "report")]
    if not times:
        times = [_t(e) for e in events] or [0.0, 1.0]
    span = (min(times), max(times) if max(times) > min(times) else min(times) + 1)
    drift = [
        (_t(e), e["drift_share"])
        for e in events
        if e["type"] == "report" and e["kind"] == "data_drift" and e["status"] == "ok"
    ]
    performance = [
        e
        for e in events
        if e["type"] == "report" and e["kind"] == "model_performance" and e["status"] == "ok"
    ]
    versions = [(_t(e), e["version"]) for e in events if e["type"] == "activation"]
    threshold = (summary.get("settings") or {}).get("DRIFT_THRESHOLD")
    return [
        _chart(
            "Drift share (data_drift reports)",
            span,
            {"drift_share": drift},
            (0.0, 1.0),
            hline=threshold,
        ),
        _chart(
            "Production accuracy, F1 and ROC AUC (model_performance reports)",
            span,
            {
                m: [(_t(e), e.get(m)) for e in performance if e.get(m) is not None]
                for m in ("accuracy", "f1", "roc_auc")
            },
            (0.0, 1.0),
        ),
        _chart(
            "ROC AUC and F1: realised vs estimated without labels (CBPE)",
            span,
            {
                "roc_auc": [(_t(e), e["roc_auc"]) for e in performance if e.get("roc_auc")],
                "estimated roc_auc": _estimated(events, "roc_auc"),
                "f1": [(_t(e), e["f1"]) for e in performance if e.get("f1") is not None],
                "estimated f1": _estimated(events, "f1"),
            },
            (0.0, 1.0),
        ),
        _chart(
            "Version in service",
            span,
            {"version": _steps(versions, span)},
            (0, max([v for _, v in versions] or [1]) + 1),
        ),
        _events_chart(span, events),
    ]


def _estimated(events: list[dict], metric: str) -> list:
    return [
        (_t(e), e["estimated"][metric])
        for e in events
        if e["type"] == "report"
        and e["kind"] == "model_performance"
        and (e.get("estimated") or {}).get(metric) is not None
    ]


def _t(event: dict) -> float:
    return datetime.fromisoformat(event["at"]).timestamp()


def _fmt(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, indent=1, default=str)


def _steps(points, span):
    out = []
    for i, (t, v) in enumerate(points):
        if i:
            out.append((t, points[i - 1][1]))
        out.append((t, v))
    if points:
        out.append((span[1], points[-1][1]))
    return out


def _x(t: float, span) -> float:
    t = min(max(t, span[0]), span[1])  # e.g. the first model, activated the day before
    return PAD + (WIDTH - 2 * PAD) * (t - span[0]) / (span[1] - span[0])


def _y(v: float, bounds) -> float:
    low, high = bounds
    return HEIGHT - PAD / 2 - (HEIGHT - PAD) * (v - low) / ((high - low) or 1)


def _frame(title: str, span, bounds, body: str, legend: list[str]) -> str:
    days = int((span[1] - span[0]) // 86400)
    ticks = "".join(
        f'<text x="{_x(span[0] + d * 86400, span):.1f}" y="{HEIGHT - 2}" font-size="10" '
        f'text-anchor="middle">d{d}</text>'
        for d in range(0, days + 1, max(1, days // 9 or 1))
    )
    labels = "".join(
        f'<text x="{PAD - 4}" y="{_y(v, bounds) + 3:.1f}" font-size="10" text-anchor="end">'
        f"{v:g}</text>"
        for v in (bounds[0], bounds[1])
    )
    keys = "".join(
        f'<tspan fill="{_colour(name)}"> ■ {html.escape(name)}</tspan>' for name in legend
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT + 20}" '
        f'role="img" aria-label="{html.escape(title)}">'
        f'<text x="{PAD}" y="14" font-size="13" font-weight="bold">{html.escape(title)}'
        f'<tspan font-weight="normal" font-size="11">{keys}</tspan></text>'
        f'<g transform="translate(0,16)"><rect x="{PAD}" y="{PAD / 2}" width="{WIDTH - 2 * PAD}" '
        f'height="{HEIGHT - PAD}" fill="none" stroke="#ccc"/>{labels}{ticks}{body}</g></svg>'
    )


def _colour(name: str) -> str:
    """An estimate is drawn dashed, in the colour of the figure it estimates."""
    return COLOURS.get(name.removeprefix("estimated "), "#000")


def _chart(title, span, series: dict, bounds, *, hline=None) -> str:
    body = ""
    if hline is not None:
        y = _y(hline, bounds)
        body += (
            f'<line x1="{PAD}" x2="{WIDTH - PAD}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eb5757" '
            'stroke-dasharray="4 3"/>'
        )
    for name, points in series.items():
        if not points:
            continue
        path = " ".join(f"{_x(t, span):.1f},{_y(v, bounds):.1f}" for t, v in points)
        dash = ' stroke-dasharray="5 3"' if name.startswith("estimated ") else ""
        body += (
            f'<polyline points="{path}" fill="none" stroke="{_colour(name)}" '
            f'stroke-width="1.5"{dash}/>'
        )
    return _frame(title, span, bounds, body, list(series))


def _events_chart(span, events) -> str:
    body = ""
    lanes = {"retrain": 0.75, "alert": 0.25}
    for event in events:
        if event["type"] == "retrain" and event["decision"] in ("promoted", "rejected", "failed"):
            colour, lane = COLOURS[event["decision"]], "retrain"
            tip = f"retrain #{event['id']} {event['decision']} ({', '.join(event['fired'])})"
        elif event["type"] == "alert":
            colour, lane = COLOURS.get(event["severity"], "#999"), "alert"
            tip = f"{event['severity']} {event['kind']}"
        else:
            continue
        x, y = _x(_t(event), span), _y(lanes[lane], (0, 1))
        body += (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{html.escape(tip)}</title></circle>"
        )
    legend = ["promoted", "rejected", "failed", "critical", "warning", "info"]
    return _frame("Events: retrains (top), alerts (bottom)", span, (0, 1), body, legend)
