"""Bar charts drawn on the server as SVG: the geometry here, the markup in
templates/partials/bar_chart.svg.html. No JavaScript, no build."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import format_decimal

WIDTH, HEIGHT = 960, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 12, 36
MAX_X_LABELS = 12


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str
    value: int


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    left: int
    baseline: float
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    series: list[str]
    title: str

    @property
    def is_empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def nice_ceiling(value: int) -> tuple[int, int]:
    """A round top for the y axis and its step (1, 2 or 5 times a power of ten), ~4 steps."""
    if value <= 0:
        return 4, 1
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step), step


def label_step(count: int) -> int:
    """Every how many bars the axis writes a label (at most MAX_X_LABELS labels)."""
    return max(1, math.ceil(count / MAX_X_LABELS))


def grouped_bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    title: str,
    width: int = WIDTH,
    height: int = HEIGHT,
    tick_labels: Sequence[str] | None = None,
) -> BarChart:
    """One group of bars per label, one bar per series (`(css class, name, values)`) in each
    group; counts are written with the reader's separators. `tick_labels` (shorter, one per
    label) are written under the axis instead of the labels, which the bars' titles keep."""
    top_value, step = nice_ceiling(max((v for *_, values in series for v in values), default=0))
    plot_width = width - LEFT - RIGHT
    plot_height = height - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = plot_width / max(len(labels), 1)
    bar_width = max(slot * 0.8 / max(len(series), 1), 0.5)
    bars = []
    for index, label in enumerate(labels):
        for offset, (css, name, values) in enumerate(series):
            value = values[index]
            bar_height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(LEFT + index * slot + slot * 0.1 + offset * bar_width, 2),
                    y=round(baseline - bar_height, 2),
                    width=round(bar_width, 2),
                    height=round(bar_height, 2),
                    css=css,
                    title=f"{label}: {format_decimal(value)} {name}",
                    value=value,
                )
            )
    y_ticks = [
        Tick(round(baseline - plot_height * v / top_value, 2), format_decimal(v))
        for v in range(0, top_value + 1, step)
    ]
    every = label_step(len(labels))
    x_ticks = [
        Tick(round(LEFT + index * slot + slot / 2, 2), label)
        for index, label in enumerate(tick_labels or labels)
        if index % every == 0
    ]
    return BarChart(
        width, height, LEFT, baseline, bars, y_ticks, x_ticks, [css for css, *_ in series], title
    )
