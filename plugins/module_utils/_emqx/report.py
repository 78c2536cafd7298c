# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""The picture of a run: connections per node over time, as a self-contained SVG (the view of
the seed's Grafana figure), with the outcome written under the chart."""

from __future__ import annotations

from xml.sax.saxutils import escape

BLUES = ("#1f4e9c", "#3b7dd8", "#6fa8ef", "#0b2d66", "#8fb9f5")
GREENS = ("#1b7f3b", "#3fb45f", "#7fd68f", "#0d5a26", "#a6e3b0")
WIDTH, HEIGHT = 900, 460
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 40, 150
RATE_HEIGHT = 220


def _nice_max(value):
    value = max(1.0, float(value))
    for exp in range(0, 10):
        for step in (1, 2, 5):
            candidate = step * 10 ** exp
            if candidate >= value:
                return candidate
    return value


def connections_svg(samples, colours=None, title="Connections per node", notes=(), rates=None, budget=None):
    """Render ``samples`` ([{t, connections: {node: n}}]) as an SVG line chart.

    :param colours: {node: "blue"|"green"} to colour each line by its side.
    :param notes: lines of text printed under the chart (outcome, durations).
    :param rates: [{t, per_s}] clients arriving per second, drawn in a second chart below, with
        ``budget`` (reconnects per second) as a dashed line.
    """
    colours = colours or {}
    nodes = sorted({n for s in samples for n in s.get("connections", {})}, key=lambda n: (colours.get(n, "z"), n))
    # the legend is as wide as the longest node name (about 7 px a character at 12 px)
    right = max(RIGHT, 60 + 7 * max([len(n) for n in nodes] + [0]))
    width = WIDTH - RIGHT + right
    rate_h = RATE_HEIGHT if rates else 0
    height = HEIGHT + rate_h
    t_max = max([s["t"] for s in samples] + [r["t"] for r in rates or []] + [1.0])
    y_max = _nice_max(max([v for s in samples for v in s.get("connections", {}).values()] + [1]))
    plot_w, plot_h = width - LEFT - right, HEIGHT - TOP - BOTTOM

    def x(t):
        return LEFT + plot_w * float(t) / t_max

    def y(v):
        return TOP + plot_h * (1 - float(v) / y_max)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (width, height, width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="16" font-weight="bold">%s</text>' % (LEFT, escape(title))]
    out += _axes(x, y, y_max, t_max, TOP, plot_w, plot_h)
    counters = {"blue": 0, "green": 0}
    for index, node in enumerate(nodes):
        side = colours.get(node, "blue" if index % 2 == 0 else "green")
        palette = BLUES if side == "blue" else GREENS
        colour = palette[counters[side] % len(palette)]
        counters[side] += 1
        points = " ".join("%.1f,%.1f" % (x(s["t"]), y(s["connections"].get(node, 0))) for s in samples if node in s.get("connections", {}))
        if points:
            out.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, points))
        ly = TOP + 14 + index * 18
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (LEFT + plot_w + 14, ly - 4, LEFT + plot_w + 34, ly - 4, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (LEFT + plot_w + 40, ly, escape(node)))
    if rates:
        out += _rates_chart(rates, budget, x, t_max, HEIGHT - 10, plot_w)
    for i, line in enumerate(notes):
        out.append('<text x="%d" y="%d">%s</text>' % (LEFT, TOP + plot_h + 42 + i * 17, escape(str(line))))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _axes(x, y, y_max, t_max, top, plot_w, plot_h):
    out = []
    for i in range(6):
        value = y_max * i / 5.0
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (LEFT, y(value), LEFT + plot_w, y(value)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%d</text>' % (LEFT - 6, y(value) + 4, value))
    for i in range(6):
        t = t_max * i / 5.0
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%ds</text>' % (x(t), top + plot_h + 16, t))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (LEFT, top + plot_h, LEFT + plot_w, top + plot_h))
    out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>' % (LEFT, top, LEFT, top + plot_h))
    return out


def _rates_chart(rates, budget, x, t_max, top, plot_w):
    """Clients arriving per second under the main chart, with the reconnect budget dashed."""
    plot_h = RATE_HEIGHT - 60
    peak = max([r["per_s"] for r in rates] + [float(budget or 0), 1.0])
    y_max = _nice_max(peak)

    def y(v):
        return top + 20 + plot_h * (1 - float(v) / y_max)

    out = ['<text x="%d" y="%d" font-weight="bold">Reconnects per second%s</text>'
           % (LEFT, top + 12, escape(" (budget %s/s, peak %s/s)" % (budget, max(r["per_s"] for r in rates)) if budget else ""))]
    out += _axes(x, y, y_max, t_max, top + 20, plot_w, plot_h)
    points = " ".join("%.1f,%.1f" % (x(r["t"]), y(r["per_s"])) for r in rates)
    out.append('<polyline fill="none" stroke="#c05000" stroke-width="1.5" points="%s"/>' % points)
    if budget:
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#b00020" stroke-dasharray="6,4"/>'
                   % (LEFT, y(budget), LEFT + plot_w, y(budget)))
        out.append('<text x="%d" y="%.1f" fill="#b00020">budget</text>' % (LEFT + plot_w + 6, y(budget) + 4))
    return out
