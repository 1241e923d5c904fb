"""The replay charts: stacked statuses in the theme's colours, a cursor at the instant, clicks and
cursor drags that ask to seek, the selected responder's distance line highlighted."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from dispatch_console.domain.lifecycle import ResponderStatus
from dispatch_console.domain.timeutil import US_PER_S
from dispatch_console.replay.metrics import Series, series
from dispatch_console.ui.replay.charts import CHART_NAMES, STACK_ORDER, ChartData, ReplayCharts
from dispatch_console.ui.shell.selection import Selection
from dispatch_console.ui.shell.theme import DAY, NIGHT
from tests.ui.factory import Built, build_incident

STEP_US = 5 * US_PER_S


@pytest.fixture(scope="module")
def built() -> Built:
    return build_incident(30, minutes=6)


@pytest.fixture(scope="module")
def data(built: Built) -> Series:
    return series(built.events, STEP_US)


@pytest.fixture
def charts(qtbot: QtBot, built: Built, data: Series) -> ReplayCharts:
    selection = Selection()
    selection.focus(built.incident_id)
    widget = ReplayCharts(selection, NIGHT)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.set_data(data, int(data.times_us[0]))
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def test_chart_data_comes_from_the_metrics_series(data: Series) -> None:
    chart = ChartData.from_series(data)
    assert len(chart.times_us) == len(data.times_us)
    for i, name in enumerate(data.statuses):
        assert np.array_equal(chart.status_counts[ResponderStatus(name)], data.status_counts[i])
    assert np.array_equal(chart.unidentified_inside, data.unidentified_inner)
    rid = data.responder_ids[0]
    assert np.array_equal(chart.distances_m[rid], data.distance_of(rid), equal_nan=True)


def test_bands_stack_every_status_up_to_the_number_of_responders(
    charts: ReplayCharts, data: Series
) -> None:
    k = len(data.times_us) - 1
    t = int(data.times_us[k])
    total = int(data.status_counts[:, k].sum())
    assert charts.band_top(STACK_ORDER[-1], t) == total == 30
    running = 0
    for status in STACK_ORDER:
        running += int(data.status_counts[data.statuses.index(status.value), k])
        assert charts.band_top(status, t) == running


def test_bands_are_painted_in_the_theme_status_colours(charts: ReplayCharts) -> None:
    colours = {curve.opts["pen"].color().name() for curve, _fill in charts._bands}
    drawn = {s for s in STACK_ORDER if charts.data and np.any(charts.data.status_counts[s])}
    assert colours == {QColor(NIGHT.status[s]).name() for s in drawn}
    charts.set_theme(DAY)
    colours = {curve.opts["pen"].color().name() for curve, _fill in charts._bands}
    assert colours == {QColor(DAY.status[s]).name() for s in drawn}


def test_cursor_follows_the_instant_in_every_chart(charts: ReplayCharts, data: Series) -> None:
    t = int(data.times_us[0]) + 200 * US_PER_S + 123
    charts.set_instant(t)
    for name in CHART_NAMES:
        assert abs(charts.cursor_us(name) - t) <= 1
    charts.set_instant(int(data.times_us[5]))
    assert abs(charts.cursor_us("distance") - int(data.times_us[5])) <= 1


@pytest.mark.parametrize("name", CHART_NAMES)
def test_clicking_a_chart_asks_to_seek_to_the_clicked_time(
    qtbot: QtBot, charts: ReplayCharts, data: Series, name: str
) -> None:
    target = int(data.times_us[0]) + 170 * US_PER_S
    point = charts.point_of(name, target)
    chart = charts.charts[name]
    with qtbot.waitSignal(charts.seek_requested, timeout=2000) as blocker:
        QTest.mouseClick(
            chart.viewport(),
            Qt.MouseButton.LeftButton,
            pos=QPoint(round(point.x()), round(point.y())),
        )
    box = chart.getPlotItem().getViewBox()
    x_range = box.viewRange()[0]
    minutes_per_pixel = (x_range[1] - x_range[0]) / box.width()
    assert abs(blocker.args[0] - target) <= 60 * US_PER_S * minutes_per_pixel


def test_clicks_seek_within_the_recorded_span(charts: ReplayCharts, data: Series) -> None:
    assert charts._clamp(int(data.times_us[0]) - 10 * US_PER_S) == int(data.times_us[0])
    assert charts._clamp(int(data.times_us[-1]) + 10 * US_PER_S) == int(data.times_us[-1])


def test_dragging_a_cursor_asks_to_seek(qtbot: QtBot, charts: ReplayCharts, data: Series) -> None:
    line = charts.charts["unidentified"].cursor
    target = int(data.times_us[0]) + 90 * US_PER_S
    line.setValue(float(charts.minutes(target)))
    with qtbot.waitSignal(charts.seek_requested) as blocker:
        line.sigDragged.emit(line)
    assert abs(blocker.args[0] - target) <= 1


def test_selected_responder_distance_is_highlighted(
    charts: ReplayCharts, data: Series, built: Built
) -> None:
    assert charts._distance_selected.getData()[0] is None or not len(
        charts._distance_selected.getData()[0]
    )
    rid = data.responder_ids[2]
    assert charts.selection is not None
    charts.selection.select({rid}, "table")
    assert charts.highlighted == {rid}
    _x, y = charts._distance_selected.getData()
    finite = y[np.isfinite(y)]
    expected = data.distance_of(rid)
    assert np.allclose(finite, expected[np.isfinite(expected)] / 1000.0)
    assert (
        charts._distance_selected.opts["pen"].widthF() > charts._distance_all.opts["pen"].widthF()
    )


def test_unidentified_inside_is_amber_not_red(charts: ReplayCharts) -> None:
    pen = charts._inside.opts["pen"]
    assert pen.color().name() == QColor(NIGHT.caution).name()
    assert pen.color().name() != QColor(NIGHT.alarm).name()


def test_key_moments_are_marked_and_charts_render_for_a_report(
    charts: ReplayCharts, data: Series
) -> None:
    from PySide6.QtCore import QSize

    moments = [(int(data.times_us[0]), "Activation"), (int(data.times_us[-1]), "End")]
    charts.set_cursor_visible(False)
    charts.mark_moments(moments)
    assert len(charts._moment_lines) == 2 * len(CHART_NAMES)
    images = charts.render_all(QSize(800, 240))
    assert set(images) == set(CHART_NAMES)
    assert all(image.size() == QSize(800, 240) for image in images.values())
