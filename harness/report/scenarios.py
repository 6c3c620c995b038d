"""The report's MultiStream and Server section: p99 of an 8-sample query by precision, and for
Server the rate LoadGen accepted with every step of the search that found it."""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from harness.report import charts
from harness.report.cells import compliance_badge, validity_badge
from harness.report.document import Image, Paragraph, Section, Table
from harness.report.inputs import ReportInput, RunView
from harness.results.format import milliseconds, rate
from harness.terms import PRECISIONS, Scenario


def _runs(inp: ReportInput, scenario: Scenario) -> list[RunView]:
    """The newest completed performance run of `scenario` per precision, in PRECISIONS order."""
    newest: dict[str, RunView] = {}
    for run in inp.completed:
        if run.scenario == scenario and run.kind == "performance":
            newest[run.precision] = run
    return [newest[p] for p in sorted(newest, key=lambda p: (PRECISIONS + (p,)).index(p))]


def _badges(run: RunView) -> tuple:
    return validity_badge(run), compliance_badge(run)


def _multistream(runs: list[RunView]) -> Table:
    rows = tuple((run.precision.upper(), milliseconds(run.result.get("value")),
                  milliseconds(run.result.get("early_stopping_p99_ns")), str(run.batch_size), _badges(run))
                 for run in runs)
    return Table(("Precision", "MultiStream p99 (ms)", "Early-stopping p99 (ms)", "Batch per instance", "Status"),
                 rows, caption="LoadGen's p99 of a whole query (8 samples), and the early-stopping estimate "
                               "MLPerf reports for MultiStream.")


def _server(runs: list[RunView]) -> Table:
    rows = []
    for run in runs:
        result = run.result
        search = run.record.get("server_search")
        rows.append((run.precision.upper(), rate(result.get("target_qps")), rate(result.get("value")),
                     milliseconds(result.get("p99_latency_ns")), milliseconds(result.get("latency_bound_ns")),
                     f"{len(search['steps'])} steps, highest VALID {rate(search['highest_valid'])}" if search
                     else "target given", _badges(run)))
    return Table(("Precision", "Offered (samples/s)", "Completed (samples/s)", "p99 (ms)", "Bound (ms)",
                  "Rate from", "Status"), tuple(rows),
                 caption="LoadGen's Server results: the Poisson rate offered, the rate completed and the p99 "
                         "latency against the bound.")


def search_figure(run: RunView) -> bytes:
    """p99 latency against the offered rate, one point per step of the search, and the bound."""
    search, result = run.record["server_search"], run.result
    with charts.matplotlib.rc_context(charts.STYLE):
        fig = Figure(figsize=(7.0, 3.6))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        for valid, colour, label in ((True, charts.PRECISION_COLOURS["int8"], "VALID step"),
                                     (False, "#e15759", "INVALID step")):
            steps = [s for s in search["steps"] if (s["validity"] == "VALID") == valid and s["p99_ns"]]
            ax.scatter([s["target_qps"] for s in steps], [s["p99_ns"] / 1e6 for s in steps], color=colour,
                       label=label, zorder=3)
        if result.get("p99_latency_ns"):
            ax.scatter([result["target_qps"]], [result["p99_latency_ns"] / 1e6], marker="D", color=charts.INK,
                       label="the run", zorder=4)
        bound = (result.get("latency_bound_ns") or 0) / 1e6
        ax.axhline(bound, color=charts.MUTED, linestyle="--", label=f"bound {bound:g} ms")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("offered rate (samples/s)")
        ax.set_ylabel("p99 latency (ms)")
        ax.set_title(f"{run.precision.upper()} Server: the rate search")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()


def scenarios_section(inp: ReportInput) -> Section | None:
    """None when the runs hold neither MultiStream nor Server."""
    blocks: list = []
    multistream, server = _runs(inp, Scenario.MULTI_STREAM), _runs(inp, Scenario.SERVER)
    if multistream:
        blocks.append(_multistream(multistream))
    if server:
        blocks.append(_server(server))
        blocks += [Image(f"server-search-{run.precision}", f"{run.precision.upper()} Server rate search",
                         "Each step is a short run at one offered rate; the run itself offers "
                         f"{run.record['server_search']['margin']:.0%} of the highest VALID step.",
                         search_figure(run))
                   for run in server if run.record.get("server_search")]
    if not blocks:
        return None
    intro = Paragraph(("MultiStream issues a query of 8 samples as soon as the previous one completed; "
                       "its metric is the 99th percentile of a query's latency. Server issues single "
                       "samples at Poisson-distributed times; its result is the highest rate whose 99th "
                       "percentile latency stays within the bound.",))
    return Section("multistream-server", "MultiStream and Server", (intro, *blocks))
