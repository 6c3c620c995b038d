"""The report's charts as PNG bytes: matplotlib's object API on the Agg canvas.

No pyplot: it keeps global figure state, and a report is a pure function of its runs.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from harness.results.format import latency

PRECISION_COLOURS = {"fp32": "#4e79a7", "bf16": "#f28e2b", "int8": "#59a14f"}
OTHER_COLOUR = "#8c8c8c"
INK, MUTED, GRID = "#1f2933", "#6b7785", "#e4e7eb"
STYLE = {
    "font.family": "DejaVu Sans", "font.size": 10, "axes.titlesize": 11, "axes.titleweight": "bold",
    "axes.labelcolor": INK, "axes.edgecolor": MUTED, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "axes.grid.axis": "y", "grid.color": GRID, "grid.linewidth": 0.8,
    "xtick.color": MUTED, "ytick.color": MUTED, "text.color": INK, "legend.frameon": False,
    "savefig.dpi": 110,
}
HISTOGRAM_BINS = 59
CDF_POINTS = 2000  # a CDF of a million latencies drawn through this many quantiles looks the same
MIN_SLOTS = 3  # a lone bar stays bar-shaped: the axis always has room for three
MARKER_AREA = 30  # the early-stopping triangle, in points squared
MARKER_SHIFT = 0.16  # the triangle's x beside its bar's centre, in bar slots
LABEL_GAP_PT = 8  # a bar's value label above its highest mark: clears the triangle's half height


@dataclass(frozen=True)
class Bar:
    """One precision in a by-precision figure."""

    label: str
    value: float | None  # the bar (LoadGen's result); None: no bar, `note` says why
    note: str = ""  # under the label: "skipped", "INVALID", "quick" ...
    point: float | None = None  # the harness's estimate, drawn as a dot with whiskers
    ci: tuple[float | None, float | None] | None = None  # interval of `point`; None side: unbounded
    marker: float | None = None  # a further reference value (the early-stopping estimate)


@dataclass(frozen=True)
class BarChart:
    title: str
    ylabel: str
    scale: float  # divide values by this for the axis (1e6: ns to ms)
    show: Callable[[float], str]  # the value printed over each bar, in axis units
    bar_label: str
    point_label: str
    marker_label: str = ""


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def precision_bars(chart: BarChart, bars: list[Bar]) -> bytes:
    with matplotlib.rc_context(STYLE):
        return _png(precision_bars_figure(chart, bars))


def precision_bars_figure(chart: BarChart, bars: list[Bar]) -> Figure:
    """The by-precision figure; call it inside matplotlib.rc_context(STYLE)."""
    fig = Figure(figsize=(6.4, 3.9))
    ax = fig.add_subplot()
    ax.set_title(chart.title, loc="left")
    pad = max(0.0, (MIN_SLOTS - len(bars)) / 2)
    ax.set_xlim(-0.6 - pad, len(bars) - 0.4 + pad)
    ax.set_xticks(range(len(bars)), [f"{b.label.upper()}\n{b.note}" if b.note else b.label.upper() for b in bars])
    if all(b.value is None for b in bars):
        ax.set_yticks([])
        ax.text(0.5, 0.5, "no completed run in this scenario", transform=ax.transAxes, ha="center",
                color=MUTED)
        return fig
    x = np.arange(len(bars))
    heights = [(b.value or 0) / chart.scale for b in bars]
    ax.bar(x, heights, width=0.6, color=[PRECISION_COLOURS.get(b.label, OTHER_COLOUR) for b in bars],
           label=chart.bar_label, zorder=2)
    # Each bar's label sits above the highest thing drawn at its x, whiskers included, by a gap
    # in points: one in data units shrinks with the axis and let markers and caps touch it.
    tops = [max([(v or 0) / chart.scale for v in (b.value, b.point, b.marker)]
                + [(b.ci[1] or 0) / chart.scale if b.ci else 0]) for b in bars]
    top = max(tops + [1e-12])
    for i, b in enumerate(bars):
        if b.value is None:
            ax.text(i, top * 0.03, "no result", ha="center", va="bottom", color=MUTED, fontsize=9)
        else:
            ax.annotate(chart.show(b.value / chart.scale), (i, tops[i]), xytext=(0, LABEL_GAP_PT),
                        textcoords="offset points", ha="center", va="bottom", fontweight="bold", fontsize=10)
    with_point = [(i, b) for i, b in enumerate(bars) if b.point is not None]
    if with_point:
        idx = np.array([i for i, _ in with_point], dtype=float)
        points = np.array([b.point for _, b in with_point]) / chart.scale
        low = np.array([(b.ci[0] if b.ci and b.ci[0] is not None else b.point) for _, b in with_point])
        high = np.array([(b.ci[1] if b.ci and b.ci[1] is not None else b.point) for _, b in with_point])
        ax.errorbar(idx, points, yerr=np.vstack([points - low / chart.scale, high / chart.scale - points]), fmt="o",
                    color=INK, markersize=4, capsize=5, elinewidth=1.3, label=chart.point_label, zorder=3)
    markers = [(i, b.marker) for i, b in enumerate(bars) if b.marker is not None]
    if markers:  # beside the whisker, which it would hide where the two values are close
        ax.scatter([i + MARKER_SHIFT for i, _ in markers], [m / chart.scale for _, m in markers], marker="v",
                   color=MUTED, s=MARKER_AREA, label=chart.marker_label, zorder=4)
    ax.set_ylim(0, top * 1.25)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
    ax.set_ylabel(chart.ylabel)
    # Below the axes: inside, it would cover a bar's label whichever corner it took.
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncols=3, fontsize=8)
    return fig


@dataclass(frozen=True)
class RunPanels:
    """What the per-run figure shows: latency histogram, CDF, throughput over time."""

    latencies_ns: np.ndarray
    samples: np.ndarray  # weights: samples per latency
    completions_ns: np.ndarray
    p50_ns: int
    p90_ns: int
    p90_ci_ns: tuple[int | None, int | None]
    latency_label: str  # "query latency" or "completion since issue"
    log_x: bool  # long-tailed latencies: log axes show the body and the tail at once
    colour: str
    rates: tuple[float, ...] | None  # samples/s per bin, None: too few completions
    bin_s: float | None
    warmup_s: float | None
    cooldown_s: float | None
    steady_rate: float | None
    steady_ci: tuple[float, float] | None


def _latency_unit(ns: np.ndarray) -> tuple[float, str]:
    top = float(np.max(ns))
    return next(((scale, unit) for scale, unit in ((1e9, "s"), (1e6, "ms")) if top >= 10 * scale), (1e3, "µs"))


def _log_x(ax) -> None:
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def run_panels(p: RunPanels) -> bytes:
    with matplotlib.rc_context(STYLE):
        return _png(run_panels_figure(p))


def run_panels_figure(p: RunPanels) -> Figure:
    """The per-run figure; call it inside matplotlib.rc_context(STYLE)."""
    scale, unit = _latency_unit(p.latencies_ns)
    values = p.latencies_ns / scale
    fig = Figure(figsize=(13, 3.5))
    hist, cdf, rate = fig.subplots(1, 3, gridspec_kw={"wspace": 0.28})
    _histogram(hist, values, p, scale, unit)
    _cdf(cdf, values, p, scale, unit)
    _throughput(rate, p)
    return fig


def histogram_bins(values: np.ndarray, log: bool) -> np.ndarray:
    """HISTOGRAM_BINS bins over the values.

    Fewer values than bins (an Offline run of a few batches, one in a quick run) each get a
    bar centred on the value: edges at the extremes put the last value on its bar's right
    edge, under the p90 line drawn there, and a lone value beside its bar. Many values get
    edges at the extremes, so that the first and last bars cover a whole bin of data.
    """
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.array([low * 0.99, low * 1.01])
    low = max(low, 1e-9) if log else low
    half = 0.5 if len(values) < HISTOGRAM_BINS else 0.0  # of a bin, beyond each extreme
    if log:
        step = (high / low) ** (1 / (HISTOGRAM_BINS - 2 * half))
        return np.geomspace(low / step ** half, high * step ** half, HISTOGRAM_BINS + 1)
    step = (high - low) / (HISTOGRAM_BINS - 2 * half)
    return np.linspace(low - half * step, high + half * step, HISTOGRAM_BINS + 1)


def _histogram(ax, values: np.ndarray, p: RunPanels, scale: float, unit: str) -> None:
    bins = histogram_bins(values, p.log_x)
    if p.log_x:
        _log_x(ax)
    else:
        ax.ticklabel_format(axis="x", useOffset=False)
    ax.hist(values, bins=bins, weights=p.samples, color=p.colour, alpha=0.85, zorder=2)
    # p50 named left of its line, p90 right of its own: close lines would print one over the other.
    for ns, name, side in ((p.p50_ns, "p50", "right"), (p.p90_ns, "p90", "left")):
        ax.axvline(ns / scale, color=INK, linewidth=1, linestyle="--" if name == "p50" else "-", zorder=3)
        ax.text(ns / scale, 1.0, f" {name} ", transform=ax.get_xaxis_transform(), va="top", ha=side, fontsize=8)
    ax.set_xlabel(f"{p.latency_label} ({unit})")
    ax.set_ylabel("samples")
    ax.set_title("Latency histogram", loc="left")


def _cdf(ax, values: np.ndarray, p: RunPanels, scale: float, unit: str) -> None:
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    cumulative = np.cumsum(p.samples[order]) / p.samples.sum()
    keep = np.unique(np.linspace(0, len(sorted_values) - 1, min(CDF_POINTS, len(sorted_values))).astype(int))
    ax.step(sorted_values[keep], cumulative[keep], where="post", color=p.colour, linewidth=1.8, zorder=2)
    low, high = p.p90_ci_ns
    if low is not None and high is not None and high > low:
        ax.axvspan(low / scale, high / scale, color=p.colour, alpha=0.18, zorder=1,
                   label="p90 95 % interval")
    ax.axhline(0.9, color=MUTED, linewidth=0.8, linestyle=":")
    ax.axvline(p.p90_ns / scale, color=INK, linewidth=1, label=f"p90 = {latency(p.p90_ns)}")
    if p.log_x:
        _log_x(ax)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(f"{p.latency_label} ({unit})")
    ax.set_ylabel("fraction of samples")
    ax.set_title("Latency CDF", loc="left")
    ax.grid(True, axis="x", color=GRID)
    ax.legend(loc="lower right", fontsize=8)


def _throughput(ax, p: RunPanels) -> None:
    ax.set_title("Throughput over time", loc="left")
    ax.set_xlabel("time since first issue (s)")
    if p.rates is None:
        order = np.argsort(p.completions_ns, kind="stable")
        t = np.concatenate([[0.0], p.completions_ns[order] / 1e9])
        done = np.concatenate([[0], np.cumsum(p.samples[order])])
        ax.step(t, done, where="post", color=p.colour, linewidth=1.8)
        ax.set_ylabel("samples completed")
        ax.text(0.02, 0.95, "too few completions for a rate over time;\nthe slope is the throughput",
                transform=ax.transAxes, va="top", fontsize=8, color=MUTED)
        return
    edges = np.arange(len(p.rates) + 1) * p.bin_s
    # No baseline: stairs would drop to 0 at both ends, which reads as a stall at the start and end.
    ax.stairs(p.rates, edges, baseline=None, color=p.colour, linewidth=1.6, zorder=2)
    total = len(p.rates) * p.bin_s
    if p.warmup_s:
        ax.axvspan(0, p.warmup_s, color=MUTED, alpha=0.12, label="warm-up", zorder=1)
    if p.cooldown_s:
        ax.axvspan(total - p.cooldown_s, total, color=MUTED, alpha=0.25, label="cool-down", zorder=1)
    if p.steady_rate is not None:
        start, end = p.warmup_s or 0.0, total - (p.cooldown_s or 0.0)
        ax.hlines(p.steady_rate, start, end, color=INK, linewidth=1.2,
                  label=f"steady {p.steady_rate:,.0f}/s", zorder=3)
        if p.steady_ci:
            ax.fill_between([start, end], *[[v, v] for v in p.steady_ci], color=INK, alpha=0.12, zorder=1)
    ax.set_ylim(0, max(p.rates) * 1.15 if max(p.rates) > 0 else 1)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.6g}"))
    ax.set_ylabel(f"samples/s (bins of {p.bin_s:g} s)")
    if ax.get_legend_handles_labels()[0]:  # a run too short for a steady state has nothing to name
        ax.legend(loc="lower right", fontsize=8)
