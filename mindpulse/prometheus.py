"""The Prometheus text format: metric families and their rendering (no Django, no app).

Read by mindpulse/metric_series.py (which builds the families) and mindpulse/metrics.py (the
view that renders them), so that neither imports the other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class Family:
    """One metric: its name, type, help line and samples (suffix, labels, value)."""

    name: str
    type: str
    help: str
    samples: list[tuple[str, dict, float]] = field(default_factory=list)

    def add(self, value, suffix: str = "", **labels) -> Family:
        if value is not None:
            self.samples.append((suffix, labels, value))
        return self


def render(families: list[Family]) -> str:
    lines: list[str] = []
    for family in families:
        lines.append(f"# HELP {family.name} {_escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.type}")
        for suffix, labels, value in family.samples:
            lines.append(f"{family.name}{suffix}{_labels(labels)} {_number(value)}")
    return "\n".join(lines) + "\n"


def _labels(labels: dict) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{key}="{_escape_label(value)}"' for key, value in labels.items())
    return "{" + inner + "}"


def _escape_label(value) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)
