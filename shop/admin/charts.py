"""SVG geometry for the dashboard's charts: numbers in, shapes out. No request objects here.

Each chart is drawn in a fixed ``viewBox`` and scales with its container (CSS), so the
same markup fits a phone and a desktop. Colours come from classes in ``admin.css``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shop.currencies import CURRENCIES

WIDTH = 640
HEIGHT = 240
LEFT = 48  # room for the value axis labels
RIGHT = 8
TOP = 12
BOTTOM = 36  # room for the category labels
MARKERS_UP_TO = 48  # a line of more points shows a marker on its last point only


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str
    value: str
    series: int = 0  # which series (a CSS class picks its colour)


@dataclass(frozen=True)
class Marker:
    """A dot on a line at one value (a line of a single value is only this dot)."""

    x: float
    y: float
    label: str
    value: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    """What the template draws: bars and/or one polyline with its markers, with axis ticks."""

    title: str
    desc: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    line: str = ""  # polyline points "x,y x,y ..."
    markers: list[Marker] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    empty: bool = False

    @property
    def plot_left(self) -> int:
        return LEFT

    @property
    def plot_right(self) -> int:
        return self.width - RIGHT

    @property
    def baseline(self) -> int:
        return self.height - BOTTOM


def nice_max(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    magnitude = 1.0
    while magnitude * 10 < value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for factor in (1, 2, 2.5, 5, 10):
        if magnitude * factor >= value:
            return magnitude * factor
    return magnitude * 10


def _y_ticks(top: float, fmt: Formatter, count: int = 4) -> list[Tick]:
    plot = HEIGHT - BOTTOM - TOP
    return [Tick(HEIGHT - BOTTOM - plot * i / count, fmt(top * i / count)) for i in range(count + 1)]


class Formatter:
    """Turns an axis value into its label (plain numbers, or money in a currency)."""

    def __init__(self, money_currency: str | None = None) -> None:
        self.currency = money_currency

    def __call__(self, value: float) -> str:
        if self.currency is None:
            return f"{value:g}" if value != int(value) else str(int(value))
        units = value / CURRENCIES[self.currency].per_unit if self.currency in CURRENCIES else value / 100
        return f"{units:,.0f}" if units >= 10 or units == int(units) else f"{units:,.2f}"


def bar_chart(title: str, desc: str, labels: Sequence[str], series: Sequence[Sequence[float]],
              shown: Sequence[Sequence[str]], legend: Sequence[str] = (), axis: Formatter | None = None,
              label_every: int = 1) -> Chart:
    """Grouped vertical bars: ``series[s][i]`` is series ``s`` at category ``labels[i]``.

    :param shown: the value texts (for each bar's tooltip title), same shape as ``series``.
    :param label_every: label only every n-th category (long hourly axes).
    """
    axis = axis or Formatter()
    chart = Chart(title, desc, legend=list(legend))
    values = [v for s in series for v in s]
    if not labels or not any(values):
        chart.empty = True
    top = nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - BOTTOM - TOP
    slot = plot_w / max(1, len(labels))
    gap = slot * (0.2 if slot > 4 else 0)
    bar_w = (slot - gap) / max(1, len(series))
    for i, label in enumerate(labels):
        for s, values_s in enumerate(series):
            h = plot_h * values_s[i] / top
            x = LEFT + i * slot + gap / 2 + s * bar_w
            chart.bars.append(Bar(round(x, 2), round(HEIGHT - BOTTOM - h, 2), round(bar_w, 2), round(h, 2),
                                  label, shown[s][i], s))
        if i % label_every == 0:
            chart.x_ticks.append(Tick(round(LEFT + (i + 0.5) * slot, 2), label))
    chart.y_ticks = _y_ticks(top, axis)
    return chart


def line_chart(title: str, desc: str, labels: Sequence[str], values: Sequence[float], axis: Formatter,
               label_every: int = 1, shown: Sequence[str] | None = None) -> Chart:
    """One line through ``values`` over equally spaced ``labels``, with a marker on each point
    while there are at most :data:`MARKERS_UP_TO` of them (so a single point is visible: a
    polyline of one point draws nothing), else on the last one.

    :param shown: the value texts for the markers' tooltips (``axis`` formats them by default).
    """
    chart = Chart(title, desc)
    if not labels or not any(values):
        chart.empty = True
    top = nice_max(max(values, default=0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - BOTTOM - TOP
    step = plot_w / max(1, len(labels))
    points = []
    for i, value in enumerate(values):
        x = round(LEFT + (i + 0.5) * step, 2)
        y = round(HEIGHT - BOTTOM - plot_h * value / top, 2)
        points.append(f"{x:.2f},{y:.2f}")
        if len(values) <= MARKERS_UP_TO or i == len(values) - 1:
            chart.markers.append(Marker(x, y, labels[i], shown[i] if shown is not None else axis(value)))
        if i % label_every == 0:
            chart.x_ticks.append(Tick(x, labels[i]))
    chart.line = " ".join(points) if len(points) > 1 else ""
    chart.y_ticks = _y_ticks(top, axis)
    return chart


def label_stride(count: int, room: int = 8) -> int:
    """Label every n-th of ``count`` categories so about ``room`` labels fit."""
    return max(1, -(-count // room))
