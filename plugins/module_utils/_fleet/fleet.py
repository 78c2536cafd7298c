# -*- coding: utf-8 -*-
# Copyright (c) zerodowntime.cluster contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This module_utils package is private to the collection: its API may change at any time.
"""A fleet of clusters upgraded in waves: the waves Ansible's ``serial`` makes of the fleet's
hosts, the plan printed before anything changes, the table printed after each wave and the
timeline picture (one row per cluster)."""

from __future__ import annotations

from xml.sax.saxutils import escape

OUTCOME_COLOURS = {"upgraded": "#3fb45f", "already upgraded": "#a6e3b0", "rolled back": "#e0a030", "failed": "#d64541"}


def _pct_to_int(value, total):
    """A ``serial`` entry as a host count, as Ansible reads it (ansible.utils.helpers.pct_to_int):
    a percentage of the whole fleet rounded down but at least one, or a number."""
    text = str(value).strip()
    if text.endswith("%"):
        return int((float(text[:-1]) / 100.0) * total) or 1
    return int(text)


def waves(hosts, serial):
    """The batches ``serial`` makes of ``hosts`` (in play order), as Ansible's playbook executor
    makes them: each entry in turn, the last repeated until every host has a wave; 0 or a missing
    ``serial`` puts the rest in one wave."""
    remaining = list(hosts)
    entries = list(serial) if isinstance(serial, (list, tuple)) else ([serial] if serial not in (None, "") else [])
    if not entries:
        entries = [0]
    result, index = [], 0
    while remaining:
        size = _pct_to_int(entries[index], len(hosts))
        if size <= 0:
            result.append(remaining)
            break
        result.append(remaining[:size])
        remaining = remaining[size:]
        index = min(index + 1, len(entries) - 1)
    return result


def _duration(seconds):
    if seconds is None:
        return "unknown"
    seconds = int(round(float(seconds)))
    if seconds < 120:
        return "%d s" % seconds
    return "%d min %02d s" % divmod(seconds, 60)


def plan(hosts, serial, clusters, soak_seconds):
    """The fleet plan: ``clusters`` maps each host to ``{done, predicted_s}``. A wave lasts as long as
    its slowest cluster plus the soak that judges it; clusters already upgraded cost nothing."""
    planned = []
    total, known = 0.0, True
    for number, members in enumerate(waves(hosts, serial), start=1):
        todo = [h for h in members if not (clusters.get(h) or {}).get("done")]
        predictions = [(clusters.get(h) or {}).get("predicted_s") for h in todo]
        if not todo:
            seconds = 0.0
        elif any(p is None for p in predictions):
            seconds, known = None, False
        else:
            seconds = max(float(p) for p in predictions) + float(soak_seconds)
        if seconds is not None:
            total += seconds
        planned.append({"wave": number, "clusters": members, "to_upgrade": todo,
                        "already_upgraded": [h for h in members if h not in todo], "predicted_s": seconds})
    result = {"waves": planned, "wave_of": {h: w["wave"] for w in planned for h in w["clusters"]},
              "predicted_s": round(total, 1) if known else None, "soak_seconds": soak_seconds}
    result["lines"] = plan_lines(result)
    return result


def plan_lines(fleet_plan):
    lines = []
    for wave in fleet_plan["waves"]:
        what = "canary" if wave["wave"] == 1 and len(fleet_plan["waves"]) > 1 else "wave"
        done = (" (already upgraded, skipped: %s)" % ", ".join(wave["already_upgraded"])) if wave["already_upgraded"] else ""
        lines.append("wave %d (%s): %s, about %s%s" % (wave["wave"], what, ", ".join(wave["to_upgrade"]) or "nothing to do",
                                                       _duration(wave["predicted_s"]), done))
    lines.append("whole fleet: %d clusters in %d waves, about %s (each wave's slowest cluster plus a %s s soak)"
                 % (sum(len(w["clusters"]) for w in fleet_plan["waves"]), len(fleet_plan["waves"]),
                    _duration(fleet_plan["predicted_s"]), fleet_plan["soak_seconds"]))
    return lines


COLUMNS = (("cluster", "cluster"), ("wave", "wave"), ("outcome", "outcome"), ("duration", "duration_s"),
           ("minimum", "minimum_s"), ("vs minimum", "vs_minimum"), ("losses", "losses"))


def _cell(key, value):
    if value is None or value == "":
        return "-"
    if key in ("duration_s", "minimum_s"):
        return _duration(value)
    if key == "vs_minimum":
        return "%.2f" % float(value)
    return str(value)


def report_lines(records):
    """The fleet's table: one row per cluster, in wave order, then what halted the fleet if anything did."""
    rows = [[title for title, _key in COLUMNS]]
    for record in sorted(records, key=lambda r: (r.get("wave") or 0, r.get("cluster") or "")):
        rows.append([_cell(key, record.get(key)) for _title, key in COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    for record in records:
        if record.get("outcome") not in ("upgraded", "already upgraded") and record.get("message"):
            lines.append("%s: %s" % (record["cluster"], record["message"]))
    return lines


def timeline_svg(records, title="Fleet upgrade", notes=()):
    """One row per cluster, a bar from its start to its end coloured by outcome, the waves marked."""
    records = sorted([r for r in records if r.get("started") is not None], key=lambda r: (r.get("wave") or 0, r["started"]))
    left, right, top, row_h = 180, 30, 50, 28
    width = 900
    height = top + row_h * max(1, len(records)) + 60 + 16 * len(notes)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (width, height),
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="%d" y="24" font-size="16">%s</text>' % (left, escape(title))]
    if records:
        t0 = min(float(r["started"]) for r in records)
        t1 = max(float(r.get("finished") or r["started"]) for r in records)
        span = max(1.0, t1 - t0)
        plot_w = width - left - right

        def x(t):
            return left + (float(t) - t0) / span * plot_w

        for index, record in enumerate(records):
            y = top + index * row_h
            start, end = x(record["started"]), x(record.get("finished") or record["started"])
            colour = OUTCOME_COLOURS.get(record.get("outcome"), "#888888")
            label = "%s (wave %s)" % (record.get("cluster"), record.get("wave"))
            parts.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 8, y + 17, escape(label[:28])))
            parts.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: %s</title></rect>'
                         % (start, y + 4, max(2.0, end - start), row_h - 8, colour, escape(str(record.get("cluster"))),
                            escape(str(record.get("outcome")))))
        axis_y = top + len(records) * row_h + 14
        parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>' % (left, axis_y, left + plot_w, axis_y))
        for step in range(5):
            t = span * step / 4.0
            parts.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (left + plot_w * step / 4.0, axis_y + 16, escape(_duration(t))))
        legend_x = left
        for outcome, colour in OUTCOME_COLOURS.items():
            parts.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>'
                         % (legend_x, axis_y + 26, colour, legend_x + 16, axis_y + 37, escape(outcome)))
            legend_x += 130
        note_y = axis_y + 58
    else:
        note_y = top + 20
    for note in notes:
        parts.append('<text x="%d" y="%d">%s</text>' % (left, note_y, escape(str(note))))
        note_y += 16
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
