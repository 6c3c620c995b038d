"""The report's figures as a reader sees them: labels clear of what they label, no bar cut off,
no stall drawn where there was none, and an INT8 precision row that explains itself."""

import json
import math

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from harness.report import charts
from harness.report.write import write_report

from rundirs import single_stream_timeline, write_run

P90_CHART = charts.BarChart("Batch-1 p90 latency by precision", "p90 latency (ms)", 1e6, lambda ms: f"{ms:.3g} ms",
                            "LoadGen p90", "harness p90, 95 % CI", "early-stopping p90")


def drawn(figure):
    FigureCanvasAgg(figure)
    figure.canvas.draw()
    return figure.canvas.get_renderer()


def test_a_value_label_clears_the_early_stopping_marker_and_the_whisker_cap():
    # A quick SingleStream run: the interval's top and the early-stopping estimate a hair apart.
    bars = [charts.Bar("fp32", 40_000, "quick", 41_000, (40_500, 44_000), 43_000),
            charts.Bar("int8", 20_000, "quick", 20_500, (20_000, 23_000), 22_500)]
    with matplotlib.rc_context(charts.STYLE):
        figure = charts.precision_bars_figure(P90_CHART, bars)
        renderer = drawn(figure)
    ax = figure.axes[0]
    px_per_pt = figure.dpi / 72
    for i, bar in enumerate(bars):
        label = next(t for t in ax.texts if t.get_text() == P90_CHART.show(bar.value / 1e6))
        bottom = label.get_window_extent(renderer).y0
        marker_top = ax.transData.transform((i, bar.marker / 1e6))[1] + math.sqrt(charts.MARKER_AREA) / 2 * px_per_pt
        cap_top = ax.transData.transform((i, bar.ci[1] / 1e6))[1] + px_per_pt
        assert bottom >= max(marker_top, cap_top) + 4 * px_per_pt, (bar.label, bottom, marker_top, cap_top)
    # The triangle stands beside the whisker, not on it.
    (triangles,) = [c for c in ax.collections if c.get_label() == "early-stopping p90"]
    assert np.allclose(triangles.get_offsets()[:, 0], [charts.MARKER_SHIFT, 1 + charts.MARKER_SHIFT])


def panels(latencies_ns, samples, completions_ns, rates, bin_s, log_x=False) -> charts.RunPanels:
    latencies_ns = np.asarray(latencies_ns, dtype=np.int64)
    return charts.RunPanels(
        latencies_ns=latencies_ns, samples=np.asarray(samples), completions_ns=np.asarray(completions_ns),
        p50_ns=int(np.median(latencies_ns)), p90_ns=int(np.percentile(latencies_ns, 90)),
        p90_ci_ns=(None, None), latency_label="query latency", log_x=log_x, colour="#4e79a7",
        rates=rates, bin_s=bin_s, warmup_s=None, cooldown_s=None, steady_rate=None, steady_ci=None)


def test_throughput_over_time_does_not_drop_to_zero_at_its_ends():
    rates = (24_000.0, 25_000.0, 24_500.0, 25_500.0)
    with matplotlib.rc_context(charts.STYLE):
        figure = charts.run_panels_figure(panels([40_000] * 100, [1] * 100, np.arange(1, 101) * 40_000, rates, 0.001))
        drawn(figure)
    (stairs,) = [p for p in figure.axes[2].patches if isinstance(p, matplotlib.patches.StepPatch)]
    heights = stairs.get_path().vertices[:, 1]
    assert heights.min() == min(rates)  # the first and last bins end where they are, not at 0


def test_the_latency_histogram_draws_each_value_inside_a_whole_bar():
    # Offline: batches complete at 2.9 s, 5.8 s and 7.0 s since the query was issued; a quick
    # Offline run may complete all its samples in one batch.
    for latencies, samples in (([2_900_000_000, 5_800_000_000, 7_000_000_000], [116, 116, 43]),
                               ([7_333_876_140], [110])):
        latencies = np.array(latencies)
        with matplotlib.rc_context(charts.STYLE):
            figure = charts.run_panels_figure(panels(latencies, samples, latencies, None, None))
            drawn(figure)
        hist = figure.axes[0]
        bars = [(b.get_x(), b.get_x() + b.get_width(), b.get_height()) for b in hist.patches if b.get_height() > 0]
        assert sorted(h for _, _, h in bars) == sorted(samples)
        for value in latencies / 1e6:  # drawn in ms: under 10 s
            assert any(left < value < right for left, right, _ in bars), value
        low, high = hist.get_xlim()
        assert all(low < left and right < high for left, right, _ in bars)


def test_a_dense_latency_histogram_has_no_half_empty_bars_at_its_ends():
    # A longer Offline run: a batch of 10 every 10 ms; each of the bins holds as many batches.
    completions = np.arange(1, charts.HISTOGRAM_BINS * 10 + 1) * 10_000_000
    with matplotlib.rc_context(charts.STYLE):
        figure = charts.run_panels_figure(panels(completions, np.full(completions.size, 10), completions, None, None))
        drawn(figure)
    heights = [b.get_height() for b in figure.axes[0].patches]
    assert min(heights) == max(heights) == 100


def test_an_int8_row_explains_the_float_hint(tmp_path):
    run = write_run(tmp_path / "int8", "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4)),
                    precision="int8")
    record = json.loads((run / "run.json").read_text())
    record["precision"] = {"requested": "int8", "ep": "openvino", "source": "OpenVINO runtime model",
                           "convolution_precisions": {"u8": 53}, "inference_precision_hint": "f32",
                           "reported": "int8", "matches": True}
    (run / "run.json").write_text(json.dumps(record))
    md = write_report(run).markdown.read_text()
    row = next(line for line in md.splitlines() if line.startswith("| Precision proof (engine-reported) |"))
    assert row.startswith("| Precision proof (engine-reported) | int8 ") and "**matches request**" in row
    assert ("OpenVINO inference precision hint: f32 (the QDQ model's quantize/dequantize pairs make its "
            "convolutions int8; the hint sets only the precision of the layers left in floating point)") in row
