"""The after-action report of one incident, as HTML or PDF (``dispatch-console report``).

Contents, in order:

1. the incident summary: school, type, times (opened, activation, closed), duration, counts,
   the exercise flag;
2. the after-action metrics (``replay.metrics``, the domain notes' figures);
3. map snapshots at the key moments: activation, first arrival, peak exposure (most
   unidentified responders inside the inner perimeter) and all clear (or the end of the
   record), each the console's own map (:class:`MapView`) at that instant, rendered offscreen;
4. the charts (:mod:`dispatch_console.ui.replay.charts`) with the key moments marked;
5. a condensed timeline: the key events only (alerts and acknowledgements, arrivals and
   identifications, warnings, broadcasts, PAR, status and command changes); after the first
   :data:`INDIVIDUAL_ROWS` arrivals or identifications, the rest are counted per minute.

An exercise says so in a red and white banner at the top of the HTML and of every PDF page.
Everything comes from the incident's events (a :class:`Timeline`), read-only; the figures are
those of the live run. HTML is one file (images inline as base64 PNG). PDF is US Letter,
portrait, written by the one PDF writer (:mod:`.pdf`, text stays vector) and needs no window:
``QT_QPA_PLATFORM=offscreen`` is enough (the command line sets it).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QImage,
    QPageLayout,
    QPainter,
    QPen,
)
from PySide6.QtWidgets import QApplication

from dispatch_console import __version__
from dispatch_console.domain import events as ev
from dispatch_console.domain.reference import School
from dispatch_console.domain.sentences import acting_commander_text, sentence
from dispatch_console.domain.state import IncidentState
from dispatch_console.domain.text import neutralise
from dispatch_console.domain.timeutil import US_PER_S, from_us
from dispatch_console.importers.roads_geojson import Road
from dispatch_console.replay.metrics import Metrics, compute, series
from dispatch_console.ui.print.pdf import PdfPages, html_text
from dispatch_console.ui.replay.timeline_bar import elapsed_text
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, Theme

if TYPE_CHECKING:
    from dispatch_console.replay.timeline import Timeline
    from dispatch_console.store import Store

#: Map snapshots and charts are rendered at these pixel sizes.
MAP_SIZE = QSize(1150, 730)
CHART_SIZE = QSize(1050, 300)
#: Responders named in a metric's line at most (the rest are counted).
NAMES_SHOWN = 15
#: Arrivals / identifications listed one by one before the rest are counted per minute.
INDIVIDUAL_ROWS = 12
EXERCISE_RED = "#C8102E"
EXERCISE_TEXT = "EXERCISE — EXERCISE — NOT A REAL INCIDENT — EXERCISE — EXERCISE"
FONT_FAMILIES = ["DejaVu Sans", "Liberation Sans", "Arial"]

#: The condensed timeline's event types, and the word shown for each.
KEY_TYPES: dict[str, str] = {
    ev.IncidentOpened.TYPE: "Incident opened",
    ev.AlertReceived.TYPE: "ALERT",
    ev.AlertAcknowledged.TYPE: "Alert acknowledged",
    ev.IncidentCommanderAssigned.TYPE: "Incident commander",
    ev.CommandEstablished.TYPE: "Command established",
    ev.CommandTransferred.TYPE: "Command transferred",
    ev.ResponderReleased.TYPE: "Released",
    ev.SuspectDescriptionRevised.TYPE: "Suspect description",
    ev.ResponderArrived.TYPE: "Arrived",
    ev.ResponderIdentified.TYPE: "Identified",
    ev.WarningRaised.TYPE: "WARNING",
    ev.WarningAcknowledged.TYPE: "Warning acknowledged",
    ev.BroadcastSent.TYPE: "Broadcast",
    ev.ParStarted.TYPE: "PAR started",
    ev.ParEnded.TYPE: "PAR ended",
    ev.IncidentStatusChanged.TYPE: "Status",
}
#: Types counted per minute after :data:`INDIVIDUAL_ROWS` of them.
CROWDED_TYPES = frozenset(
    {ev.ResponderArrived.TYPE, ev.ResponderIdentified.TYPE, ev.ResponderReleased.TYPE}
)


#: How the crowded kinds are counted: one, several.
CROWD_WORDS = {
    ev.ResponderArrived.TYPE: ("arrival", "arrivals"),
    ev.ResponderIdentified.TYPE: ("identification", "identifications"),
    ev.ResponderReleased.TYPE: ("release", "releases"),
}


# --- what the report says (no drawing) -------------------------------------------------------


@dataclass(frozen=True)
class KeyMoment:
    key: str
    title: str
    #: The instant shown (None: it never happened; no snapshot).
    at_us: int | None
    note: str
    #: The header's counts at that instant, in words.
    counts: str = ""


@dataclass(frozen=True)
class TimelineRow:
    at_us: int
    what: str
    who: str
    detail: str
    #: Warnings and alerts are set in bold.
    strong: bool = False


@dataclass
class Report:
    incident_id: str
    school_name: str
    incident_type: str
    exercise: bool
    status: str
    opened_at_us: int
    start_us: int
    end_us: int
    metrics: Metrics
    summary: list[tuple[str, str]]
    moments: list[KeyMoment]
    rows: list[TimelineRow]
    #: PNG images: map snapshots by moment key, charts by chart name.
    snapshots: dict[str, bytes] = field(default_factory=dict)
    charts: dict[str, bytes] = field(default_factory=dict)
    #: The stacked chart's colours, as HTML.
    legend_html: str = ""
    #: Responder ids -> the name the console shows (callsign, name or id).
    names: dict[str, str] = field(default_factory=dict)
    generated_at_us: int = 0
    #: Pages of the PDF written (0: none written).
    pages: int = 0

    @property
    def title(self) -> str:
        return f"After-action report — {self.school_name} — {words(self.incident_type)}"


def words(code: str) -> str:
    return code.replace("_", " ")


def clock_text(t_us: int) -> str:
    """``09:21:47`` in the local time zone of the computer writing the report."""
    return from_us(t_us).astimezone().strftime("%H:%M:%S")


def date_text(t_us: int) -> str:
    return from_us(t_us).astimezone().strftime("%a %d %b %Y %H:%M:%S %Z (UTC%z)")


def span_text(us: int | None) -> str:
    if us is None:
        return "—"
    seconds = max(0, us // US_PER_S)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h {m:02d}m {s:02d}s" if h else f"{m}m {s:02d}s"


def key_moments(timeline: Timeline, metrics: Metrics, final: IncidentState) -> list[KeyMoment]:
    start, end = timeline.start_us, timeline.end_us
    activation = min(max(metrics.activated_at_us, start), end)
    note = f"the alert was activated at {clock_text(metrics.activated_at_us)}"
    if activation != metrics.activated_at_us:
        note += " (the school's clock), first recorded here"
    moments = [KeyMoment("activation", "Activation", activation, note)]
    if metrics.to_first_arrival_us is not None:
        at = metrics.activated_at_us + metrics.to_first_arrival_us
        moments.append(KeyMoment("first_arrival", "First arrival", at, "first responder arrived"))
    else:
        moments.append(KeyMoment("first_arrival", "First arrival", None, "nobody arrived"))
    if metrics.peak_unidentified_inner_at_us is not None:
        n = metrics.peak_unidentified_inner
        moments.append(
            KeyMoment(
                "peak_exposure",
                "Peak exposure",
                metrics.peak_unidentified_inner_at_us,
                f"{n} unidentified responder{'s' if n != 1 else ''} inside the inner perimeter",
            )
        )
    else:
        moments.append(
            KeyMoment(
                "peak_exposure",
                "Peak exposure",
                None,
                "no unidentified responder was ever inside the inner perimeter",
            )
        )
    if metrics.closed_at_us is not None:
        # Just before: the console stops drawing a closed incident's perimeters.
        title = "All clear" if final.status == "all_clear" else words(final.status).capitalize()
        moments.append(
            KeyMoment(
                "all_clear",
                title,
                max(start, metrics.closed_at_us - 1),
                f"{title.lower()} given (as the console showed it just before)",
            )
        )
    else:
        moments.append(
            KeyMoment("all_clear", "End of the record", end, "no all clear was recorded")
        )
    return moments


def _with_counts(timeline: Timeline, moment: KeyMoment) -> KeyMoment:
    if moment.at_us is None:
        return moment
    c = timeline.state_at(moment.at_us).counts(moment.at_us)
    text = (
        f"notified {c['notified']} · en route {c['en_route']} · at staging {c['at_staging']} · "
        f"on scene {c['on_scene']} · identified {c['identified']} · assigned {c['assigned']} · "
        f"arrived not checked in {c['arrived_not_checked_in']}"
    )
    return KeyMoment(moment.key, moment.title, moment.at_us, moment.note, text)


def condensed_rows(timeline: Timeline, final: IncidentState) -> list[TimelineRow]:
    """The key events (module doc), the crowded kinds counted per minute after a few."""
    rows: list[TimelineRow] = []
    seen: dict[str, int] = {}
    buckets: dict[tuple[str, int], list[int]] = {}
    origin = final.opened_at_us or timeline.start_us
    for index, event in enumerate(timeline.events):
        what = KEY_TYPES.get(event.type)
        if what is None:
            continue
        at = timeline.time_of(index)
        if event.type in CROWDED_TYPES:
            seen[event.type] = seen.get(event.type, 0) + 1
            if seen[event.type] > INDIVIDUAL_ROWS:
                minute = (at - origin) // (60 * US_PER_S)
                buckets.setdefault((event.type, minute), []).append(at)
                continue
        rid = getattr(event.payload, "responder_id", None)
        responder = final.responders.get(rid) if rid else None
        who = neutralise(responder.display_name if responder is not None else event.actor.name)
        strong = event.type in (ev.AlertReceived.TYPE, ev.WarningRaised.TYPE)
        rows.append(TimelineRow(at, what, who, sentence(event, final), strong))
    for (kind, _minute), times in buckets.items():
        n = len(times)
        label = CROWD_WORDS[kind][0 if n == 1 else 1]
        span = elapsed_text(times[0], origin)
        if times[-1] != times[0]:
            span = f"between {span} and {elapsed_text(times[-1], origin)}"
        else:
            span = f"at {span}"
        detail = f"{n} more {label} {span}"
        rows.append(TimelineRow(times[0], KEY_TYPES[kind] + f" ×{n}", "", detail))
    rows.sort(key=lambda r: r.at_us)
    return rows


def command_text(final: IncidentState, roles: Mapping[str, str] | None = None) -> str:
    """Who held command when: ``Lt. J. Hayes (established 09:16:02, T+00:01:58) → Capt. R.
    Ortiz (transferred 09:31:10, T+00:17:06)``; the command post last named. Where nobody
    established command (an older record), who acted as incident commander (``roles``: console
    user -> registered role), from their first act to their last."""
    origin = final.opened_at_us
    if not final.command:
        acting = final.acting_commanders(roles or {})
        if acting:
            return acting_commander_text(
                acting, lambda us: f"{clock_text(us)} ({elapsed_text(us, origin)})"
            )
        return "none recorded (nobody established command)"
    held = [
        f"{p.commander} ({p.how} {clock_text(p.since_us)}, {elapsed_text(p.since_us, origin)})"
        for p in final.command
    ]
    post = final.command_post
    return " → ".join(held) + (f"; command post: {post}" if post else "")


def summary_lines(
    timeline: Timeline, metrics: Metrics, final: IncidentState
) -> list[tuple[str, str]]:
    counts = final.counts(timeline.end_us)
    closed = metrics.closed_at_us
    return [
        ("School", final.school_name or final.school_id),
        ("Incident", f"{timeline.incident_id} · {words(final.incident_type)}"),
        ("Exercise", "YES — an exercise, not a real incident" if final.exercise else "no (live)"),
        (
            "Provenance",
            f"UNTRUSTED IMPORT — {why}"
            if (why := ev.untrusted_import(timeline.events))
            else "recorded here, or imported from a file signed by a trusted key",
        ),
        ("Status at the end", words(final.status)),
        ("Opened", date_text(final.opened_at_us or timeline.start_us)),
        ("Activation", date_text(metrics.activated_at_us)),
        ("Closed", date_text(closed) if closed is not None else "not closed in the record"),
        ("Recorded span", span_text(timeline.end_us - timeline.start_us)),
        ("Events", f"{len(timeline):,}"),
        (
            "Responders",
            f"{counts['notified']} notified · {counts['acknowledged']} acknowledged · "
            f"{metrics.responded} responded · {counts['declined']} declined · "
            f"{counts['released']} released",
        ),
        ("Incident commander", command_text(final, timeline.roles)),
        ("Alerts", str(len(final.alerts))),
        ("Warnings raised", str(len(final.warnings))),
        ("PAR roll calls", str(len(final.pars))),
        *rules_lines(final),
    ]


#: An incident no alert of the console's went out for under rules (or recorded before they were).
NO_RULES_RECORDED = "none recorded with this incident: no alert of this console was decided by them"


def rules_lines(final: IncidentState) -> list[tuple[str, str]]:
    """The agency response rules in force for the incident, and each dispatcher gate."""
    from dispatch_console.domain.rules import rules_from_json

    if not final.rules_in_force:
        return [("Agency rules", NO_RULES_RECORDED)]
    rows = []
    for agency, (version, text) in final.rules_in_force.items():
        lines = rules_from_json(text).summary()
        rows.append((f"Agency rules: {agency}", f"version {version}: " + "; ".join(lines[1:])))
    for agency, gate in final.gates.items():
        if gate.released_at_us is None:
            how = "never released"
        else:
            by = "automatically" if gate.automatic else f"by {gate.released_by}"
            how = f"released {by} at {clock_text(gate.released_at_us)}"
        rows.append((f"Gate: {agency}", f"{len(gate.device_ids)} held; {how}"))
    return rows


# --- rendering pictures (Qt widgets, offscreen) ---------------------------------------------


def _png(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    # PySide6's stub wants bytes for the format; at run time only str is accepted (bytes
    # raises ValueError).
    image.save(buffer, "PNG")  # type: ignore[call-overload]
    buffer.close()
    return bytes(data.data())


def render_snapshots(
    timeline: Timeline,
    moments: Sequence[KeyMoment],
    schools: Sequence[School],
    roads: Sequence[Road],
    *,
    theme: Theme = DAY,
    size: QSize = MAP_SIZE,
) -> dict[str, bytes]:
    """The console's map at each moment, as PNG (a moment that never happened: none)."""
    from dispatch_console.ui.map.map_view import MapView
    from dispatch_console.ui.replay.replay_window import console_at, full_changes

    out: dict[str, bytes] = {}
    for moment in moments:
        if moment.at_us is None:
            continue
        console = console_at(timeline, moment.at_us, schools, roads, log_limit=0)
        selection = Selection()
        selection.focus(timeline.incident_id)
        view = MapView(console, selection, theme)
        view.set_editing_enabled(False)
        view.resize(size)
        view.refresh(full_changes(console, timeline.incident_id), moment.at_us)
        view.fit_to_incident(timeline.incident_id)
        out[moment.key] = _png(view.grab().toImage())
        view.deleteLater()
        selection.deleteLater()
    return out


def render_charts(
    timeline: Timeline,
    moments: Sequence[KeyMoment],
    origin_us: int,
    *,
    theme: Theme = DAY,
    size: QSize = CHART_SIZE,
) -> tuple[dict[str, bytes], str]:
    """The charts as PNG, with the key moments marked, and their status legend (HTML)."""
    from dispatch_console.ui.replay.charts import CHART_NAMES, ReplayCharts
    from dispatch_console.ui.replay.replay_window import chart_step_us

    charts = ReplayCharts(None, theme)
    charts.set_data(series(timeline.events, chart_step_us(timeline)), origin_us)
    charts.set_cursor_visible(False)
    charts.mark_moments([(m.at_us, m.title) for m in moments if m.at_us is not None])
    images = charts.render_all(size)
    out = {name: _png(images[name]) for name in CHART_NAMES}
    out_legend = charts.legend_html()
    charts.deleteLater()
    return out, out_legend


def build_report(
    timeline: Timeline,
    schools: Sequence[School] = (),
    roads: Sequence[Road] = (),
    *,
    theme: Theme = DAY,
    pictures: bool = True,
) -> Report:
    """Everything the report says and shows (needs a ``QApplication`` for the pictures)."""
    final = timeline.final_state
    metrics = compute(timeline.events, incident_id=timeline.incident_id)
    moments = [_with_counts(timeline, m) for m in key_moments(timeline, metrics, final)]
    origin = final.opened_at_us or timeline.start_us
    report = Report(
        incident_id=timeline.incident_id,
        school_name=final.school_name or final.school_id or "unknown school",
        incident_type=final.incident_type,
        exercise=final.exercise,
        status=final.status,
        opened_at_us=origin,
        start_us=timeline.start_us,
        end_us=timeline.end_us,
        metrics=metrics,
        summary=summary_lines(timeline, metrics, final),
        moments=moments,
        rows=condensed_rows(timeline, final),
        generated_at_us=int(datetime.now().timestamp() * US_PER_S),
        names={rid: r.display_name for rid, r in final.responders.items()},
    )
    if pictures:
        report.snapshots = render_snapshots(timeline, moments, schools, roads, theme=theme)
        report.charts, report.legend_html = render_charts(timeline, moments, origin, theme=theme)
    return report


# --- HTML --------------------------------------------------------------------------------------

_CSS = """
body { font-family: 'DejaVu Sans', Arial, sans-serif; color: #111418; margin: 0; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 16px 24px 48px; }
.exercise { background: #C8102E; color: #fff; font-weight: 900; font-size: 22px;
  letter-spacing: 2px; text-align: center; padding: 10px; position: sticky; top: 0; }
h1 { font-size: 26px; margin: 18px 0 4px; }
h2 { font-size: 19px; margin: 28px 0 8px; border-bottom: 2px solid #111418; padding-bottom: 3px; }
.sub { color: #4E5864; margin: 0 0 12px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px;
  border-bottom: 1px solid #C9CED6; }
th { background: #E3E7EC; }
td.num, th.num { white-space: nowrap; font-family: 'DejaVu Sans Mono', monospace; }
tr.strong td { font-weight: bold; }
table.kv th { width: 34%; background: none; color: #4E5864; font-weight: bold; }
figure { margin: 12px 0 22px; }
figure img { width: 100%; border: 1px solid #C9CED6; }
figcaption { font-size: 14px; color: #111418; margin-top: 4px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 14px; }
.none { color: #4E5864; font-style: italic; border: 1px dashed #C9CED6; padding: 24px; }
footer { color: #4E5864; font-size: 12px; margin-top: 30px; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{data}">'


def report_html(report: Report) -> str:
    origin = report.opened_at_us
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
    ]
    if report.exercise:
        parts.append(f'<div class="exercise" id="exercise-banner">{escape(EXERCISE_TEXT)}</div>')
    parts.append("<main>")
    parts.append(f"<h1>{escape(report.title)}</h1>")
    parts.append(
        f'<p class="sub">Incident {escape(report.incident_id)} · times are local '
        f"({escape(from_us(origin).astimezone().strftime('%Z, UTC%z'))}); "
        "T+ is the time since the incident opened.</p>"
    )
    parts.append("<h2>Summary</h2>")
    parts.append(_kv_table(report.summary, "summary"))
    parts.append("<h2>After-action metrics</h2>")
    parts.append(_kv_table(metric_rows(report), "metrics"))
    parts.append("<h2>Key moments</h2>")
    parts.append('<div class="grid">')
    for moment in report.moments:
        caption = _moment_caption(moment, origin)
        png = report.snapshots.get(moment.key)
        body = _img(png, moment.title) if png else f'<div class="none">{escape(moment.note)}</div>'
        parts.append(f"<figure>{body}<figcaption>{caption}</figcaption></figure>")
    parts.append("</div>")
    parts.append("<h2>Charts</h2>")
    from dispatch_console.ui.replay.charts import CHART_NAMES, TITLES

    for name in CHART_NAMES:
        png = report.charts.get(name)
        if png:
            caption = chart_caption(report, name)
            parts.append(
                f"<figure>{_img(png, TITLES[name])}<figcaption>{caption}</figcaption></figure>"
            )
    parts.append("<h2>Condensed timeline</h2>")
    parts.append(
        '<table id="timeline"><thead><tr><th class="num">T+</th><th class="num">Time</th>'
        "<th>What</th><th>Who</th><th>Detail</th></tr></thead><tbody>"
    )
    for row in report.rows:
        cls = ' class="strong"' if row.strong else ""
        parts.append(
            f"<tr{cls}><td class=num>{elapsed_text(row.at_us, origin)}</td>"
            f"<td class=num>{clock_text(row.at_us)}</td><td>{escape(row.what)}</td>"
            f"<td>{escape(row.who)}</td><td>{escape(row.detail)}</td></tr>"
        )
    parts.append("</tbody></table>")
    parts.append(
        f"<footer>Written by dispatch-console {__version__} on "
        f"{escape(date_text(report.generated_at_us))} from the incident's events "
        f"({escape(date_text(report.start_us))} to {escape(date_text(report.end_us))}).</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(parts)


def chart_caption(report: Report, name: str) -> str:
    from dispatch_console.ui.replay.charts import TITLES

    text = f"<b>{escape(TITLES[name])}</b> — minutes since the incident opened; dashed lines: "
    text += "the key moments"
    if name == "status" and report.legend_html:
        text += f" (bands, bottom up: {report.legend_html})"
    return text


def metric_rows(report: Report) -> list[tuple[str, str]]:
    """The metrics' lines, responders named as the console shows them."""
    m = report.metrics
    origin = report.opened_at_us

    def span(us: int | None) -> str:
        return "never" if us is None else span_text(us)

    def who(ids: Sequence[str]) -> str:
        names = ", ".join(report.names.get(rid, rid) for rid in ids[:NAMES_SHOWN])
        if len(ids) > NAMES_SHOWN:
            names += f" and {len(ids) - NAMES_SHOWN} more"
        return f"{len(ids)}" + (f": {names}" if ids else "")

    share = m.self_dispatched_share
    peak = str(m.peak_unidentified_inner)
    if m.peak_unidentified_inner_at_us is not None:
        peak += f" (at {elapsed_text(m.peak_unidentified_inner_at_us, origin)})"
    worst = sorted(m.exposure_by_responder, key=lambda p: -p[1])[:5]
    exposure = f"{m.exposure_person_minutes:.1f}"
    if worst:
        exposure += " — most: " + ", ".join(
            f"{report.names.get(rid, rid)} {us / 60_000_000:.1f}" for rid, us in worst
        )
    acknowledged = span(m.to_acknowledgement_us)
    if m.acknowledged_by:
        acknowledged += f" (by {m.acknowledged_by})"
    return [
        ("Activation to dispatcher acknowledgement", acknowledged),
        ("Activation to first arrival (staging or scene)", span(m.to_first_arrival_us)),
        ("Activation to first responder on scene", span(m.to_first_on_scene_us)),
        ("Activation to first identified responder", span(m.to_first_identified_us)),
        ("Activation to first assignment", span(m.to_first_assignment_us)),
        ("Responders notified / responded", f"{m.notified} / {m.responded}"),
        (
            "Self-dispatched",
            who(m.self_dispatched)
            + (f" ({share:.0%} of those who responded)" if share is not None else ""),
        ),
        ("Bypassed staging", who(m.bypassed_staging)),
        ("Arrived, never identified", who(m.never_identified)),
        ("Peak unidentified inside the inner perimeter", peak),
        (
            "Blue-on-blue exposure (person-minutes unidentified inside the inner perimeter)",
            exposure,
        ),
        (
            "Stale positions inside perimeters (person-minutes)",
            f"{m.stale_inside_person_minutes:.1f}",
        ),
        (
            "Inside the inner perimeter known from",
            "the console's perimeter events"
            if m.inside_from == "perimeter_events"
            else "positions against the perimeters (no perimeter events recorded)",
        ),
    ]


def _kv_table(rows: Sequence[tuple[str, str]], table_id: str) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv" id="{table_id}">{body}</table>'


def _moment_caption(moment: KeyMoment, origin: int) -> str:
    if moment.at_us is None:
        return f"<b>{escape(moment.title)}</b>: {escape(moment.note)}"
    text = (
        f"<b>{escape(moment.title)}</b> — {elapsed_text(moment.at_us, origin)} "
        f"({clock_text(moment.at_us)}): {escape(moment.note)}"
    )
    if moment.counts:
        text += f'<br><span style="color:#4E5864">{escape(moment.counts)}</span>'
    return text


def write_html(report: Report, path: Path) -> None:
    path.write_text(report_html(report), encoding="utf-8")


# --- PDF ----------------------------------------------------------------------------------------

PAGE_MARGIN_PT = 36.0
BODY_PT = 9.5


Draw = Callable[[QPainter, QRectF], None]


@dataclass
class _Block:
    height: float
    draw: Draw
    keep_with_next: bool = False
    #: Drawn first when this block starts a page in the middle of its table.
    header: _Block | None = None
    page_break_before: bool = False


def _doc_block(pdf: PdfPages, html: str, *, keep_with_next: bool = False) -> _Block:
    doc = pdf.document(html)

    def draw(painter: QPainter, rect: QRectF) -> None:
        pdf.draw(painter, doc, rect.topLeft())

    return _Block(doc.size().height(), draw, keep_with_next)


def _image_block(pdf: PdfPages, png: bytes, caption_html: str, width: float) -> _Block:
    # Decoded PNGs of few colours are palette images, which the PDF engine draws blank.
    image = QImage.fromData(png).convertToFormat(QImage.Format.Format_RGB32)
    height = width * image.height() / max(1, image.width())
    caption = pdf.document(caption_html, width)
    gap = pdf.pt(3)

    def draw(painter: QPainter, rect: QRectF) -> None:
        target = QRectF(rect.left(), rect.top(), width, height)
        painter.drawImage(target, image)
        painter.save()
        painter.setPen(QPen(QColor("#9AA2AC"), pdf.pt(0.5)))
        painter.drawRect(target)
        painter.restore()
        pdf.draw(painter, caption, QPointF(rect.left(), rect.top() + height + gap))

    return _Block(height + gap + caption.size().height() + pdf.pt(8), draw)


_COLUMNS = (("T+", 0.11), ("Time", 0.09), ("What", 0.17), ("Who", 0.16), ("Detail", 0.47))


def _row_block(pdf: PdfPages, cells: Sequence[str], *, bold: bool, fill: str | None) -> _Block:
    font = pdf.font(BODY_PT - 1, bold=bold)
    mono = pdf.font(BODY_PT - 1, bold=bold, mono=True)
    height = pdf.metrics(font).height() * 1.45

    def draw(painter: QPainter, rect: QRectF) -> None:
        painter.save()
        if fill:
            painter.fillRect(QRectF(rect.left(), rect.top(), pdf.width, height), QColor(fill))
        painter.setPen(QPen(QColor("#C9CED6"), pdf.pt(0.4)))
        painter.drawLine(
            QPointF(rect.left(), rect.top() + height), QPointF(pdf.width, rect.top() + height)
        )
        painter.setPen(QColor("black"))
        x = rect.left()
        pad = pdf.pt(3)
        for index, ((_, share), text) in enumerate(zip(_COLUMNS, cells, strict=True)):
            w = pdf.width * share
            f = mono if index < 2 else font
            painter.setFont(f)
            elided = pdf.metrics(f).elidedText(
                neutralise(text), Qt.TextElideMode.ElideRight, w - 2 * pad
            )
            cell = QRectF(x + pad, rect.top(), w - 2 * pad, height)
            painter.drawText(
                cell, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, elided
            )
            x += w
        painter.restore()

    return _Block(height, draw)


def _blocks(pdf: PdfPages, report: Report) -> list[_Block]:
    origin = report.opened_at_us
    blocks: list[_Block] = []
    h2 = 'style="font-size:13pt; font-weight:bold; margin-top:10pt"'
    blocks.append(
        _doc_block(
            pdf,
            f'<div style="font-size:17pt; font-weight:bold">{html_text(report.title)}</div>'
            f'<div style="color:#4E5864">Incident {html_text(report.incident_id)} · times are '
            f"local ({html_text(from_us(origin).astimezone().strftime('%Z, UTC%z'))}); T+ is the "
            "time since the incident opened.</div>",
        )
    )
    blocks.append(_space(pdf, 8))
    blocks.append(_doc_block(pdf, f"<p {h2}>Summary</p>", keep_with_next=True))
    blocks.extend(_doc_block(pdf, html) for html in _pdf_kv(report.summary))
    blocks.append(_space(pdf, 10))
    blocks.append(_doc_block(pdf, f"<p {h2}>After-action metrics</p>", keep_with_next=True))
    blocks.extend(_doc_block(pdf, html) for html in _pdf_kv(metric_rows(report)))
    title = _doc_block(pdf, f"<p {h2}>Key moments (the console's map)</p>", keep_with_next=True)
    title.page_break_before = True
    blocks.append(title)
    for moment in report.moments:
        caption = _moment_caption(moment, origin)
        png = report.snapshots.get(moment.key)
        if png:
            blocks.append(_image_block(pdf, png, caption, pdf.width * 0.78))
        else:
            blocks.append(_doc_block(pdf, f"<p>{caption}</p>"))
    from dispatch_console.ui.replay.charts import CHART_NAMES

    title = _doc_block(pdf, f"<p {h2}>Charts</p>", keep_with_next=True)
    title.page_break_before = True
    blocks.append(title)
    for name in CHART_NAMES:
        png = report.charts.get(name)
        if png:
            blocks.append(_image_block(pdf, png, chart_caption(report, name), pdf.width))
    title = _doc_block(
        pdf,
        f"<p {h2}>Condensed timeline</p><p>Key events only; after the first "
        f"{INDIVIDUAL_ROWS} arrivals and identifications, the rest are counted per minute.</p>",
        keep_with_next=True,
    )
    title.page_break_before = True
    blocks.append(title)
    header = _row_block(pdf, [c for c, _ in _COLUMNS], bold=True, fill="#E3E7EC")
    header.keep_with_next = True
    blocks.append(header)
    for row in report.rows:
        cells = [elapsed_text(row.at_us, origin), clock_text(row.at_us), row.what, row.who,
                 row.detail]  # fmt: skip
        block = _row_block(pdf, cells, bold=row.strong, fill=None)
        block.header = header
        blocks.append(block)
    blocks.append(
        _doc_block(
            pdf,
            f'<p style="color:#4E5864">Written by dispatch-console {__version__} on '
            f"{html_text(date_text(report.generated_at_us))} from the incident's events.</p>",
        )
    )
    return blocks


def _space(pdf: PdfPages, points: float) -> _Block:
    return _Block(pdf.pt(points), _nothing)


def _nothing(painter: QPainter, rect: QRectF) -> None:
    return None


def _pdf_kv(rows: Sequence[tuple[str, str]]) -> list[str]:
    """One one-row table per line (same column widths): a page break may fall between any two
    lines."""
    return [
        f'<table width="100%" cellspacing="0" cellpadding="3"><tr>'
        f'<td width="36%" style="color:#4E5864"><b>{html_text(k)}</b></td>'
        f"<td>{html_text(v)}</td></tr></table>"
        for k, v in rows
    ]


def _paginate(
    blocks: Sequence[_Block], top: float, bottom: float
) -> list[list[tuple[float, _Block]]]:
    pages: list[list[tuple[float, _Block]]] = [[]]
    y = top
    i = 0
    while i < len(blocks):
        block = blocks[i]
        if block.page_break_before and pages[-1]:
            pages.append([])
            y = top
        need = block.height
        if block.keep_with_next and i + 1 < len(blocks):
            need += blocks[i + 1].height
        if y + need > bottom and pages[-1]:
            pages.append([])
            y = top
            if block.header is not None:
                pages[-1].append((y, block.header))
                y += block.header.height
        pages[-1].append((y, block))
        y += block.height
        i += 1
    return pages


def write_pdf(report: Report, path: Path) -> int:
    """Write the PDF; return its number of pages."""
    pdf = PdfPages(
        path,
        title=report.title + (" — EXERCISE" if report.exercise else ""),
        orientation=QPageLayout.Orientation.Portrait,
        margin_pt=PAGE_MARGIN_PT,
        families=FONT_FAMILIES,
        body_pt=BODY_PT,
    )
    banner_h = pdf.pt(24) if report.exercise else 0.0
    head_h = pdf.pt(16)
    foot_h = pdf.pt(14)
    top = banner_h + head_h + pdf.pt(6)
    bottom = pdf.height - foot_h - pdf.pt(4)

    def paint_page(
        painter: QPainter, page: list[tuple[float, _Block]], number: int, count: int
    ) -> None:
        if report.exercise:
            banner = QRectF(0, 0, pdf.width, banner_h)
            pdf.banner(painter, banner, EXERCISE_TEXT, fill=EXERCISE_RED, points=13)
        _page_head(painter, pdf, report, QRectF(0, banner_h, pdf.width, head_h))
        for y, block in page:
            block.draw(painter, QRectF(0, y, pdf.width, block.height))
        foot = QRectF(0, pdf.height - foot_h, pdf.width, foot_h)
        _page_foot(painter, pdf, report, foot, number, count)

    return pdf.paint(_paginate(_blocks(pdf, report), top, bottom), paint_page)


def _page_head(painter: QPainter, pdf: PdfPages, report: Report, rect: QRectF) -> None:
    painter.save()
    painter.setPen(QColor("#4E5864"))
    painter.setFont(pdf.font(8.5, bold=True))
    flags = Qt.AlignmentFlag.AlignVCenter
    text = neutralise(f"After-action report · {report.school_name} · {report.incident_id}")
    painter.drawText(rect, flags | Qt.AlignmentFlag.AlignLeft, text)
    painter.setPen(QPen(QColor("#111418"), pdf.pt(0.8)))
    painter.drawLine(rect.bottomLeft(), rect.bottomRight())
    painter.restore()


def _page_foot(
    painter: QPainter, pdf: PdfPages, report: Report, rect: QRectF, page: int, pages: int
) -> None:
    if report.exercise:
        painter.save()
        painter.setFont(pdf.font(8, bold=True))
        painter.setPen(QColor(EXERCISE_RED))
        flags = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(rect, flags, "EXERCISE — not a real incident")
        painter.restore()
    pdf.page_number(painter, rect, page, pages, points=8, bold=report.exercise, color="#111418")


# --- the entry point ----------------------------------------------------------------------------


def write_report(
    source: Store | Timeline,
    incident_id: str | None,
    path: Path | str,
    *,
    schools: Sequence[School] | None = None,
    roads: Sequence[Road] = (),
    theme: Theme = DAY,
) -> Report:
    """Write the after-action report of ``incident_id`` (from a store, or a timeline already
    built) to ``path``: ``.html`` or ``.pdf``. Makes a ``QApplication`` if there is none (set
    ``QT_QPA_PLATFORM=offscreen`` where there is no display)."""
    from dispatch_console.replay.timeline import Timeline

    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".html", ".htm", ".pdf"):
        raise ValueError(f"{path}: the report is written as .html or .pdf")
    app = QApplication.instance() or QApplication([])
    if isinstance(source, Timeline):
        timeline = source
        if incident_id is not None and incident_id != timeline.incident_id:
            raise ValueError(f"the timeline is of {timeline.incident_id}, not {incident_id}")
    else:
        if incident_id is None:
            raise ValueError("which incident?")
        timeline = Timeline.load(source, incident_id)
        if schools is None:
            schools = source.schools()
    report = build_report(timeline, schools or (), roads, theme=theme)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == ".pdf":
        report.pages = write_pdf(report, path)
    else:
        write_html(report, path)
    del app  # kept alive until the pictures are made
    return report


__all__ = [
    "KeyMoment",
    "Report",
    "TimelineRow",
    "build_report",
    "condensed_rows",
    "key_moments",
    "report_html",
    "write_html",
    "write_pdf",
    "write_report",
]
