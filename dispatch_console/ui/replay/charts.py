"""The replay's charts (pyqtgraph), synced with the timeline.

Three charts share one time axis (minutes since the incident opened):

- **Responders by status**: stacked areas, one band per lifecycle status, in the theme's status
  colours (the same as the map and the table), furthest along at the bottom.
- **Unidentified inside the inner perimeter**: how many responders nobody had identified were
  inside the inner perimeter (the blue-on-blue exposure), amber.
- **Distance to the school**: one faint line per responder; the selected responders' lines are
  drawn bold on top.

A vertical cursor line in each chart shows the timeline's instant
(:meth:`ReplayCharts.set_instant`); clicking a chart, or dragging its cursor, asks to seek there
(:attr:`ReplayCharts.seek_requested`, event time in µs). The data come from
``replay.metrics.series(events, step_us)`` through :meth:`ChartData.from_series`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyqtgraph as pg
from numpy.typing import NDArray
from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage
from PySide6.QtWidgets import QGraphicsItem, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.replay.metrics import Series
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import NIGHT, Theme

S = ResponderStatus
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Bands of the stacked chart, bottom to top: furthest along the lifecycle first, those who are
#: out of it (declined, released) on top.
STACK_ORDER: tuple[ResponderStatus, ...] = (
    S.ASSIGNED, S.STAGED, S.IDENTIFIED, S.ON_SCENE, S.AT_STAGING, S.EN_ROUTE, S.ACKNOWLEDGED,
    S.NOTIFIED, S.DECLINED, S.RELEASED,
)  # fmt: skip
US_PER_MIN = 60 * US_PER_S
CHART_NAMES = ("status", "unidentified", "distance")
TITLES = {
    "status": "Responders by status",
    "unidentified": "Unidentified inside the inner perimeter",
    "distance": "Distance to the school, km",
}


@dataclass
class ChartData:
    """What the charts draw, sampled at ``times_us`` (event time, µs)."""

    times_us: IntArray
    #: Responders in each status at each sample.
    status_counts: dict[ResponderStatus, FloatArray]
    #: Unidentified responders inside the inner perimeter at each sample.
    unidentified_inside: FloatArray
    #: Metres to the school per responder at each sample (NaN: no position yet).
    distances_m: dict[str, FloatArray] = field(default_factory=dict)

    @classmethod
    def from_series(cls, series: Series) -> ChartData:
        """From ``replay.metrics.series(...)``."""
        times = np.asarray(series.times_us, dtype=np.int64)
        counts: dict[ResponderStatus, FloatArray] = {
            ResponderStatus(name): np.asarray(series.status_counts[i], dtype=float)
            for i, name in enumerate(series.statuses)
        }
        for status in ResponderStatus:
            counts.setdefault(status, np.zeros(len(times)))
        distances = {
            rid: np.asarray(series.distance_m[j], dtype=float)
            for j, rid in enumerate(series.responder_ids)
        }
        inside = np.asarray(series.unidentified_inner, dtype=float)
        return cls(times, counts, inside, distances)

    @property
    def empty(self) -> bool:
        return len(self.times_us) == 0


def _cached(*items: Any) -> None:
    """Paint these big items once into a device pixmap: moving the cursor line over them then
    costs a copy, not a redraw of thousands of points (redrawn when the view zooms or pans)."""
    for item in items:
        item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


class ElapsedAxis(pg.AxisItem):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """Minutes since the incident opened, as ``0``, ``5``, ``10``… (the label says minutes)."""

    def tickStrings(self, values: Sequence[float], scale: float, spacing: float) -> list[str]:
        return [f"{v:g}" if spacing >= 1 else f"{v:.1f}" for v in values]


class _Chart(pg.PlotWidget):  # type: ignore[misc]  # pyqtgraph is untyped: an Any base
    """One chart: its plot, its cursor line; mouse: x pan/zoom only, click to seek."""

    def __init__(self, name: str, theme: Theme, parent: QWidget | None = None) -> None:
        super().__init__(parent, axisItems={"bottom": ElapsedAxis("bottom")})
        self.name = name
        self.setObjectName(f"chart_{name}")
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=True, y=False)
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.getViewBox().setDefaultPadding(0.02)
        self.cursor = pg.InfiniteLine(angle=90, movable=True)
        self.cursor.setZValue(50)
        plot.addItem(self.cursor, ignoreBounds=True)
        self.title = pg.TextItem(anchor=(0, 0))
        self.title.setZValue(60)
        self.title.setParentItem(plot.getViewBox())
        self.title.setPos(4, 2)
        self.setMinimumHeight(90)
        self.set_theme(theme)

    def set_theme(self, theme: Theme) -> None:
        self.setBackground(theme.panel)
        plot = self.getPlotItem()
        font = QFont()
        font.setPointSize(11)
        for axis_name in ("left", "bottom"):
            axis = plot.getAxis(axis_name)
            axis.setPen(pg.mkPen(theme.muted))
            axis.setTextPen(pg.mkPen(theme.muted))
            axis.setTickFont(font)
        self.cursor.setPen(pg.mkPen(theme.text, width=2))
        self.cursor.setHoverPen(pg.mkPen(theme.selection, width=3))
        html = (
            f'<span style="color:{theme.text}; font-size:11pt; font-weight:bold;">'
            f"{TITLES[self.name]}</span>"
        )
        self.title.setHtml(html)

    def sizeHint(self) -> QSize:
        return QSize(600, 160)


class ReplayCharts(QWidget):
    """The three charts, stacked, one time axis (see the module doc)."""

    #: Seek to this instant (event time, µs): a click in a chart or a cursor dragged.
    seek_requested = Signal(object)

    def __init__(
        self,
        selection: Selection | None = None,
        theme: Theme = NIGHT,
        parent: QWidget | None = None,
        *,
        orientation: Qt.Orientation = Qt.Orientation.Vertical,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("replay_charts")
        self.selection = selection
        self.theme = theme
        self.data: ChartData | None = None
        self.origin_us = 0
        self.instant_us = 0
        self.highlighted: frozenset[str] = frozenset()
        self._bands: list[tuple[pg.PlotCurveItem, pg.FillBetweenItem | None]] = []
        self._baseline: pg.PlotCurveItem | None = None
        self._moment_lines: list[tuple[_Chart, pg.InfiniteLine]] = []

        self.legend = QLabel()
        self.legend.setObjectName("legend")
        self.legend.setWordWrap(True)
        self.charts: dict[str, _Chart] = {name: _Chart(name, theme) for name in CHART_NAMES}
        self.orientation = orientation
        column = QVBoxLayout(self)
        column.setContentsMargins(4, 2, 4, 2)
        column.setSpacing(0)
        column.addWidget(self.legend)
        if orientation == Qt.Orientation.Vertical:
            for name in CHART_NAMES:
                column.addWidget(self.charts[name], 3 if name == "status" else 2)
        else:
            row = QHBoxLayout()
            row.setSpacing(6)
            for name in CHART_NAMES:
                row.addWidget(self.charts[name], 1)
            column.addLayout(row, 1)
        master = self.charts["status"].getPlotItem()
        for name in CHART_NAMES[1:]:
            self.charts[name].getPlotItem().setXLink(master)
        for chart in self.charts.values():
            shown = orientation == Qt.Orientation.Horizontal or chart.name == "distance"
            chart.getPlotItem().getAxis("bottom").setStyle(showValues=shown)

        self._inside = pg.PlotCurveItem(stepMode=None)
        self._inside_fill: pg.FillBetweenItem | None = None
        self._inside_zero = pg.PlotCurveItem()
        self.charts["unidentified"].addItem(self._inside_zero)
        self.charts["unidentified"].addItem(self._inside)
        self._distance_all = pg.PlotCurveItem(connect="finite", skipFiniteCheck=True)
        self._distance_selected = pg.PlotCurveItem(connect="finite", skipFiniteCheck=True)
        self._distance_selected.setZValue(10)
        _cached(self._inside, self._distance_all, self._distance_selected)
        self.charts["distance"].addItem(self._distance_all)
        self.charts["distance"].addItem(self._distance_selected)

        for chart in self.charts.values():
            chart.scene().sigMouseClicked.connect(self._scene_clicked)
            chart.cursor.sigDragged.connect(self._cursor_dragged)
        if selection is not None:
            selection.changed.connect(self._selection_changed)
        self.set_theme(theme)

    # --- data ---------------------------------------------------------------------------------

    def set_data(self, data: ChartData | Series, origin_us: int) -> None:
        """Draw ``data`` (a :class:`ChartData`, or a ``Series`` to adapt); times count from
        ``origin_us`` (the incident's opening)."""
        if not isinstance(data, ChartData):
            data = ChartData.from_series(data)
        self.data = data
        self.origin_us = origin_us
        self._draw()
        self.set_instant(self.instant_us or origin_us)

    def minutes(self, t_us: int | IntArray) -> Any:
        return (np.asarray(t_us, dtype=np.float64) - self.origin_us) / US_PER_MIN

    def time_at(self, minutes: float) -> int:
        return self.origin_us + round(minutes * US_PER_MIN)

    def _draw(self) -> None:
        data = self.data
        status_plot = self.charts["status"].getPlotItem()
        for curve, fill in self._bands:
            status_plot.removeItem(curve)
            if fill is not None:
                status_plot.removeItem(fill)
        self._bands = []
        if self._baseline is not None:
            status_plot.removeItem(self._baseline)
            self._baseline = None
        if data is None or data.empty:
            self._inside.setData([], [])
            self._distance_all.setData([], [])
            self._distance_selected.setData([], [])
            return
        x = self.minutes(data.times_us)
        total = np.zeros(len(x))
        self._baseline = pg.PlotCurveItem(x, total, pen=pg.mkPen(None))
        status_plot.addItem(self._baseline)
        below = self._baseline
        for status in STACK_ORDER:
            values = data.status_counts.get(status)
            if values is None or not np.any(values):
                continue
            total = total + values
            color = QColor(self.theme.status[status])
            curve = pg.PlotCurveItem(x, total.copy(), pen=pg.mkPen(color, width=1))
            fill_color = QColor(color)
            fill_color.setAlpha(200)
            fill = pg.FillBetweenItem(below, curve, brush=pg.mkBrush(fill_color))
            _cached(fill, curve)
            status_plot.addItem(fill)
            status_plot.addItem(curve)
            self._bands.append((curve, fill))
            below = curve
        status_plot.setYRange(0, max(1.0, float(total.max()) * 1.15), padding=0)  # room: title
        self._draw_inside(x, data.unidentified_inside)
        self._draw_distances()
        status_plot.setXRange(float(x[0]), float(x[-1]), padding=0.01)

    def _draw_inside(self, x: FloatArray, values: FloatArray) -> None:
        plot = self.charts["unidentified"].getPlotItem()
        amber = QColor(self.theme.caution)
        self._inside.setData(x, values, pen=pg.mkPen(amber, width=2))
        self._inside_zero.setData(x, np.zeros(len(x)), pen=pg.mkPen(None))
        if self._inside_fill is not None:
            plot.removeItem(self._inside_fill)
        fill = QColor(amber)
        fill.setAlpha(90)
        self._inside_fill = pg.FillBetweenItem(self._inside_zero, self._inside, brush=fill)
        _cached(self._inside_fill)
        plot.addItem(self._inside_fill)
        top = float(values.max()) if len(values) else 0.0
        plot.setYRange(0, max(2.0, top * 1.3), padding=0)  # room for the title

    def _concat(self, ids: Iterable[str]) -> tuple[FloatArray, FloatArray]:
        """The named responders' distance lines as one curve (NaN between them), in km."""
        data = self.data
        if data is None:
            return np.empty(0), np.empty(0)
        x = self.minutes(data.times_us)
        xs: list[FloatArray] = []
        ys: list[FloatArray] = []
        gap = np.array([np.nan])
        for rid in ids:
            values = data.distances_m.get(rid)
            if values is None:
                continue
            xs += [x, gap]
            ys += [values / 1000.0, gap]
        if not xs:
            return np.empty(0), np.empty(0)
        return np.concatenate(xs), np.concatenate(ys)

    def _draw_distances(self) -> None:
        data = self.data
        if data is None:
            return
        faint = QColor(self.theme.muted)
        faint.setAlpha(70 if len(data.distances_m) > 60 else 120)
        x, y = self._concat(sorted(data.distances_m))
        self._distance_all.setData(x, y, pen=pg.mkPen(faint, width=1))
        finite = y[np.isfinite(y)] if len(y) else y
        top = float(finite.max()) if len(finite) else 1.0
        self.charts["distance"].getPlotItem().setYRange(0, max(0.5, top * 1.15), padding=0)
        self._draw_highlight()

    def _draw_highlight(self) -> None:
        x, y = self._concat(sorted(self.highlighted))
        self._distance_selected.setData(x, y, pen=pg.mkPen(self.theme.selection, width=3))

    # --- the instant and the selection ---------------------------------------------------------

    def set_instant(self, t_us: int) -> None:
        """Move every chart's cursor line to ``t_us``."""
        self.instant_us = t_us
        value = float(self.minutes(t_us))
        for chart in self.charts.values():
            if chart.cursor.value() != value:
                chart.cursor.blockSignals(True)
                chart.cursor.setValue(value)
                chart.cursor.blockSignals(False)

    def cursor_us(self, name: str = "status") -> int:
        """Where a chart's cursor line is (µs)."""
        return self.time_at(float(self.charts[name].cursor.value()))

    def set_highlight(self, responder_ids: Iterable[str]) -> None:
        self.highlighted = frozenset(responder_ids)
        self._draw_highlight()

    def _selection_changed(self, _origin: str) -> None:
        if self.selection is not None:
            self.set_highlight(self.selection.responder_ids)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setStyleSheet(
            f"QWidget#replay_charts {{ background: {theme.panel}; }}"
            f"QLabel#legend {{ color: {theme.muted}; font-size: 11pt; padding: 2px 4px; }}"
        )
        swatches = " ".join(
            f'<span style="color:{theme.status[s]}; font-size:13pt;">■</span>&nbsp;{s.label}'
            for s in STACK_ORDER
        )
        self.legend.setText(swatches)
        for chart in self.charts.values():
            chart.set_theme(theme)
            if self.orientation == Qt.Orientation.Horizontal or chart.name == "distance":
                chart.getPlotItem().setLabel(
                    "bottom", "minutes since the incident opened", color=theme.muted
                )
        if self.data is not None:
            self._draw()

    def set_cursor_visible(self, visible: bool) -> None:
        """Show or hide the instant's cursor lines (hidden in the report's figures)."""
        for chart in self.charts.values():
            chart.cursor.setVisible(visible)

    def mark_moments(self, moments: Sequence[tuple[int, str]]) -> None:
        """Dashed lines at given instants, named on the top chart (the report's key moments)."""
        for chart, line in self._moment_lines:
            chart.removeItem(line)
        self._moment_lines = []
        dashed = pg.mkPen(self.theme.text, width=1.5, style=Qt.PenStyle.DashLine)
        data = self.data
        span = (
            (int(data.times_us[0]), int(data.times_us[-1]))
            if data is not None and not data.empty
            else (0, 1)
        )
        width = max(1, span[1] - span[0])
        last_x: float | None = None
        level = 0
        for at_us, title in sorted(moments):
            # Named to the right of its line, or to the left near the right edge; a name close
            # to the previous one goes a step lower.
            right_half = (at_us - span[0]) > 0.75 * width
            anchor = (1.0, 0.5) if right_half else (0.0, 0.5)
            close = last_x is not None and (at_us - last_x) < 0.12 * width
            level = (level + 1) % 3 if close else 0
            last_x = at_us
            for chart in self.charts.values():
                options: dict[str, Any] = {}
                if chart.name == "status":
                    options = {
                        "label": title,
                        "labelOpts": {
                            "position": 0.9 - 0.14 * level,
                            "color": self.theme.text,
                            "fill": pg.mkBrush(self.theme.panel),
                            "anchors": [anchor, anchor],
                        },
                    }
                line = pg.InfiniteLine(
                    pos=float(self.minutes(at_us)), angle=90, movable=False, pen=dashed, **options
                )
                chart.addItem(line, ignoreBounds=True)
                self._moment_lines.append((chart, line))

    # --- mouse ----------------------------------------------------------------------------------

    def _scene_clicked(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton or self.data is None:
            return
        scene = self.sender()
        pos: QPointF = event.scenePos()
        for chart in self.charts.values():
            box = chart.getPlotItem().getViewBox()
            if chart.scene() is scene and box.sceneBoundingRect().contains(pos):
                minutes = float(box.mapSceneToView(pos).x())
                self.seek_requested.emit(self._clamp(self.time_at(minutes)))
                event.accept()
                return

    def _cursor_dragged(self, line: pg.InfiniteLine) -> None:
        self.seek_requested.emit(self._clamp(self.time_at(float(line.value()))))

    def _clamp(self, t_us: int) -> int:
        data = self.data
        if data is None or data.empty:
            return t_us
        return int(min(max(t_us, int(data.times_us[0])), int(data.times_us[-1])))

    # --- for tests and the report ---------------------------------------------------------------

    def point_of(self, name: str, t_us: int) -> QPointF:
        """The widget pixel (in the chart's viewport) of instant ``t_us`` at mid-height."""
        chart = self.charts[name]
        box = chart.getPlotItem().getViewBox()
        y_range = box.viewRange()[1]
        scene = box.mapViewToScene(QPointF(float(self.minutes(t_us)), sum(y_range) / 2))
        return QPointF(chart.mapFromScene(scene))

    def render_all(self, size: QSize, *, titles: bool = False) -> dict[str, QImage]:
        """Each chart alone as an image of ``size`` (the report's figures): the widget is laid
        out for that size (in a column), without its legend and, unless ``titles``, without
        the charts' titles (the report captions them)."""
        layout = self.layout()
        assert layout is not None
        self.legend.hide()
        for chart in self.charts.values():
            chart.title.setVisible(titles)
            chart.setFixedSize(size)
        for chart in self.charts.values():
            chart.getPlotItem().getAxis("bottom").setStyle(showValues=True)
            chart.getPlotItem().setLabel(
                "bottom", "minutes since the incident opened", color=self.theme.muted
            )
        self.adjustSize()
        self.grab()  # delivers the pending resizes to a hidden widget (lays everything out)
        images = {name: chart.grab().toImage() for name, chart in self.charts.items()}
        for chart in self.charts.values():
            chart.title.setVisible(True)
            chart.setMinimumSize(0, 90)
            chart.setMaximumSize(16_777_215, 16_777_215)
        self.legend.show()
        return images

    def legend_html(self) -> str:
        """The status colours as HTML (a caption for a figure of the stacked chart)."""
        return " ".join(
            f'<span style="color:{self.theme.status[s]}">■</span>&nbsp;{s.label}'
            for s in STACK_ORDER
        )

    def band_top(self, status: ResponderStatus, t_us: int) -> float | None:
        """The stacked chart's value at the top of ``status``'s band at sample ``t_us``."""
        if self.data is None:
            return None
        index = int(np.searchsorted(self.data.times_us, t_us, side="right")) - 1
        total = 0.0
        for s in STACK_ORDER:
            total += float(self.data.status_counts[s][max(0, index)])
            if s == status:
                return total
        return None


__all__ = ["CHART_NAMES", "STACK_ORDER", "ChartData", "ReplayCharts"]
