"""The usage chart: tokens or cost per day as a server-rendered SVG bar chart."""

from __future__ import annotations

import math
from datetime import date

from markupsafe import Markup

from .formatting import format_money, format_number

WIDTH, HEIGHT = 1000, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 14, 30
METRICS = {
    "tokens": ("total_tokens", "Tokens"),
    "cost": ("cost_usd", "Cost (USD)"),
    "executions": ("executions", "Executions"),
}


def usage_chart(by_day: list[dict], metric: str = "tokens") -> Markup:
    """One bar per day (every day present, zeros included), with a few gridlines."""
    key, label = METRICS.get(metric, METRICS["tokens"])
    values = [float(day.get(key) or 0) for day in by_day]
    top = _nice_ceiling(max(values, default=0)) or (0.01 if key == "cost_usd" else 4)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(values), 1)
    bar = max(min(slot * 0.7, 28), 1.5)
    fmt = format_money if key == "cost_usd" else format_number
    parts = [
        Markup(
            '<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
            'aria-label="{l} per day">'
        ).format(w=WIDTH, h=HEIGHT, l=label)
    ]
    for step in range(5):
        value = top * step / 4
        y = TOP + plot_h - plot_h * step / 4
        parts.append(
            Markup(
                '<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
                '<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}</text>'
            ).format(LEFT, WIDTH - RIGHT, y, y, LEFT - 8, y + 4, fmt(value) if step else "0")
        )
    label_every = max(1, math.ceil(len(values) / 10))
    for index, (day, value) in enumerate(zip(by_day, values, strict=True)):
        height = plot_h * value / top
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + plot_h - height
        when = _day(day["date"])
        parts.append(
            Markup(
                '<rect class="bar{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" rx="2">'
                "<title>{}: {}</title></rect>"
            ).format(
                "" if value else " bar-zero",
                x,
                y if value else TOP + plot_h - 1,
                bar,
                height if value else 1,
                when.strftime("%a %d %b"),
                fmt(value),
            )
        )
        if index % label_every == 0 or (index == len(values) - 1 and len(values) <= 10):
            parts.append(
                Markup('<text class="axis" x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(
                    x + bar / 2, HEIGHT - 10, when.strftime("%d %b")
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)


def _nice_ceiling(value: float) -> float:
    """A round top for the axis (1, 2, 2.5 or 5 times a power of ten)."""
    if value <= 0:
        return 0
    power = 10 ** math.floor(math.log10(value))
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * power:
            return factor * power
    return 10 * power


def _day(text: str) -> date:
    return date.fromisoformat(str(text)[:10])


RATE_WIDTH, RATE_HEIGHT = 600, 160


def pass_rate_chart(points: list[tuple[str, float | None, str]]) -> Markup:
    """One bar per test run, oldest first: its pass rate (0–100 %), labelled on hover
    with ``(label, rate, title)``; a run with nothing scored yet is a thin mark."""
    plot_w, plot_h = RATE_WIDTH - LEFT - RIGHT, RATE_HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(points), 1)
    bar = max(min(slot * 0.7, 28), 1.5)
    parts = [
        Markup(
            '<svg class="chart chart-small" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" role="img" '
            'aria-label="Pass rate of the last {n} test runs, oldest first">'
        ).format(w=RATE_WIDTH, h=RATE_HEIGHT, n=len(points))
    ]
    for step in range(3):
        y = TOP + plot_h - plot_h * step / 2
        parts.append(
            Markup(
                '<line class="grid" x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}"/>'
                '<text class="axis" x="{}" y="{:.1f}" text-anchor="end">{}%</text>'
            ).format(LEFT, RATE_WIDTH - RIGHT, y, y, LEFT - 8, y + 4, step * 50)
        )
    for index, (label, rate, title) in enumerate(points):
        height = plot_h * (rate or 0)
        x = LEFT + index * slot + (slot - bar) / 2
        parts.append(
            Markup(
                '<rect class="bar{}" x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" rx="2">'
                "<title>{}</title></rect>"
            ).format(
                "" if rate else " bar-zero",
                x,
                TOP + plot_h - height if rate else TOP + plot_h - 1,
                bar,
                height if rate else 1,
                title,
            )
        )
        if index == 0 or index == len(points) - 1:
            parts.append(
                Markup('<text class="axis" x="{:.1f}" y="{}" text-anchor="middle">{}</text>').format(
                    x + bar / 2, RATE_HEIGHT - 10, label
                )
            )
    parts.append(Markup("</svg>"))
    return Markup("").join(parts)
