"""From runs to the report's document: headline, the two study figures, each run, disclosure."""

from __future__ import annotations

from harness.report import charts
from harness.report.cells import compliance_badge, spread_row, validity_badge
from harness.report.disclosure import disclosure_section
from harness.report.document import Badge, Callout, Card, Cards, Document, Image, Paragraph, Section, Table
from harness.report.inputs import Planned, ReportInput, RunView
from harness.report.scenarios import scenarios_section
from harness.results.format import interval, latency, milliseconds, rate
from harness.results.repeats import repeat_of
from harness.results.runstats import AGREEMENT_MEANING, LATENCY_MEANING
from harness.terms import MIN_DURATION_S, PRECISIONS, SYNTHETIC_WEIGHTS_NOTE, Scenario

# SingleStream latencies spanning more than this ratio get log axes (Offline completion
# times are spread evenly over the run and read best on a linear axis).
LOG_SPREAD = 20
PERCENTILES_SHOWN = ("p50", "p90", "p95", "p99", "p99.9")
METHOD = (
    "Offline throughput is LoadGen's result: samples divided by the time from issuing the one query to "
    "its last sample's completion. The dot and whiskers are the harness's steady-state mean rate over "
    "time bins (warm-up and cool-down bins removed) with a 95 % Student-t interval; neighbouring bins "
    "are correlated, so read it as a lower bound on the uncertainty.",
    "SingleStream latency is LoadGen's 90th percentile. The dot and whiskers are the harness's own p90 "
    "with a distribution-free 95 % interval from binomial order statistics; the triangle is LoadGen's "
    "early-stopping estimate (confidence 0.99), the figure MLPerf reports for SingleStream.",
    "Latency, SingleStream: " + LATENCY_MEANING[Scenario.SINGLE_STREAM] + ". Offline: " + LATENCY_MEANING[Scenario.OFFLINE] + ".",
    "Harness minus LoadGen: " + AGREEMENT_MEANING,
    "The mean's interval is a seeded percentile bootstrap (2000 resamples); all intervals are 95 %.",
)


def status_badge(planned: Planned) -> Badge:
    word = planned.status.split(":")[0]
    return Badge(word.upper(), {"completed": "good", "skipped": "warn", "running": "warn",
                                "pending": "warn"}.get(word, "bad"))


def _precisions(inp: ReportInput) -> list[str]:
    present = {p.precision for p in inp.planned}
    return [p for p in PRECISIONS if p in present] + sorted(present - set(PRECISIONS))


def _cell(inp: ReportInput, precision: str, scenario: str) -> Planned | None:
    """The run a headline figure shows: the newest completed performance run of the cell, else
    its first performance run. A formal run's directory holds its accuracy and compliance runs
    too; a directory of runs may hold failed tries beside the runs that completed."""
    matches = [p for p in inp.planned if p.precision == precision and p.scenario == scenario]
    performance = [p for p in matches if p.run is None or p.run.kind == "performance"]
    completed = [p for p in performance if p.run is not None and p.run.completed]
    return (completed or performance or matches or [None])[-1 if completed else 0]


def _headline_value(planned: Planned | None) -> float | None:
    if planned is None or planned.run is None or not planned.run.completed:
        return None
    return planned.run.result.get("value")


def _percentile(run: RunView, name: str) -> dict:
    return run.stats["latency"]["percentiles"][name]


# --- headline -----------------------------------------------------------------------


def _headline(inp: ReportInput) -> Section:
    cards, rows = [], []
    for precision in _precisions(inp):
        offline, single = _cell(inp, precision, Scenario.OFFLINE), _cell(inp, precision, Scenario.SINGLE_STREAM)
        throughput, p90 = _headline_value(offline), _headline_value(single)
        early = single.run.result.get("early_stopping_p90_ns") if _headline_value(single) else None
        figures = []
        if offline:
            figures.append((f"{rate(throughput)}" if throughput else status_badge(offline).text, "images/s Offline"))
        if single:
            figures.append((f"{milliseconds(p90)} ms" if p90 else status_badge(single).text, "p90 batch 1"))
        badges = tuple({b.text: b for p in (offline, single) if p and p.run and p.run.completed
                        for b in (validity_badge(p.run), compliance_badge(p.run))}.values())
        cards.append(Card(precision.upper(), precision, tuple(figures), badges))
        rows.append((
            precision.upper(),
            _value_cell(offline, rate(throughput)),
            str(offline.batch_size) if offline else "",
            _value_cell(single, milliseconds(p90)),
            milliseconds(early) if early else "",
            tuple(b for p in (offline, single) if p for b in _run_badges(p)),
        ))
    table = Table(("Precision", "Offline images/s", "Offline batch", "SingleStream p90 (ms)",
                   "Early-stopping p90 (ms)", "Status"), tuple(rows),
                  caption="LoadGen's results, one row per precision (the study's table).")
    return Section("headline", "Headline", (Cards(tuple(cards)), table, *_callouts(inp)))


def _value_cell(planned: Planned | None, text: str):
    if planned is None:
        return "no run"
    if _headline_value(planned) is None:
        return status_badge(planned) if planned.status != "completed" else Badge("no result", "bad")
    return text


def _run_badges(planned: Planned) -> tuple[Badge, ...]:
    if planned.run is None or not planned.run.completed:
        return (Badge(f"{planned.scenario}: {planned.status.split(':')[0]}", status_badge(planned).tone),)
    run = planned.run
    return (Badge(f"{planned.scenario} {run.validity}", validity_badge(run).tone), compliance_badge(run))


def _callouts(inp: ReportInput) -> list[Callout]:
    notes = []
    if any(r.synthetic_weights for r in inp.runs):
        notes.append(Callout("info", "Note", SYNTHETIC_WEIGHTS_NOTE[0].upper() + SYNTHETIC_WEIGHTS_NOTE[1:]
                             + ". The embedded ResNet-50 has the real graph and random weights."))
    short = [r for r in inp.completed if not r.compliant]
    if short:
        notes.append(Callout("warn", "NOT COMPLIANT (quick)",
                             f"{len(short)} of {len(inp.completed)} runs are shorter than MLPerf's minimum "
                             f"({MIN_DURATION_S:.0f} s and the scenario's query count): a smoke test, not a "
                             "result to quote."))
    invalid = [r for r in inp.completed if r.invalid]
    if invalid:
        notes.append(Callout("bad", "INVALID runs", "LoadGen marked " + ", ".join(
            f"{r.precision} {r.scenario} {r.kind}" for r in invalid) + " INVALID; see each run's LoadGen settings."))
    notes += _shown_of_several(inp)
    seen = set()
    for p in inp.planned:
        name = f"{p.precision} {p.scenario}" + (f" ({p.run.run_id})" if p.run and inp.kind != "sweep" else "")
        if p.status.startswith(("skipped", "failed", "abandoned")):
            kind, _, reason = p.status.partition(":")
            note = Callout("warn" if kind == "skipped" else "bad", f"{name} {kind}", reason.strip() or kind)
        elif p.status in ("pending", "running"):
            note = Callout("warn", f"{name} {p.status}", _unfinished(inp, p))
        else:
            continue
        if note not in seen:  # the repeats of a skipped cell are skipped for one reason: said once
            seen.add(note)
            notes.append(note)
    return notes


def _unfinished(inp: ReportInput, planned: Planned) -> str:
    """What to do about a run that has no result yet."""
    if inp.kind == "sweep":
        if planned.status == "pending":
            return f"not run yet: harness sweep --resume {inp.path} runs it"
        return (f"the sweep is running it, or stopped during it: then harness sweep --resume {inp.path} "
                "runs it again")
    process = (planned.run.record.get("process") or {}) if planned.run else {}
    where = f" (process {process['pid']} on {process.get('host')})" if process.get("pid") else ""
    return f"still {planned.status}{where}: no result yet; report again once it has finished"


def _shown_of_several(inp: ReportInput) -> list[Callout]:
    """Which run the headline shows where a directory holds several of one precision and scenario."""
    notes = []
    for precision in _precisions(inp):
        for scenario in dict.fromkeys(p.scenario for p in inp.planned):
            shown = _cell(inp, precision, scenario)
            tries = [p for p in inp.planned if p.precision == precision and p.scenario == scenario
                     and p.run is not None and p.run.kind == "performance"]
            if len(tries) > 1 and shown is not None and shown.run is not None:
                done = sum(p.run.completed for p in tries)
                repeats = any(repeat_of(p.run.record) for p in tries)
                notes.append(Callout("info", f"{precision} {scenario}: {len(tries)} performance runs",
                                     f"{done} completed; the headline shows {shown.run.run_id}"
                                     + (", the newest that completed" if shown.run.completed else "")
                                     + ("; the spread over the repeats is under Run-to-run spread" if repeats else "")))
    return notes


# --- repeats --------------------------------------------------------------------------


def _spread_section(inp: ReportInput) -> Section | None:
    """A row per configuration that was repeated (--repeat N): median and range over its runs."""
    groups: dict[str, list[RunView]] = {}
    for run in inp.runs:
        repeat = repeat_of(run.record)
        if repeat and run.kind == "performance":
            groups.setdefault(repeat["group"], []).append(run)
    if not groups:
        return None
    table = Table(("Configuration", "Runs with a result", "Metric", "Median", "Min – max", "Relative spread"),
                  tuple(spread_row(runs) for runs in groups.values()),
                  caption="Each configuration's headline figure over its independent repeats (--repeat N, each "
                          "run its own process). Relative spread: (max − min) / median. Runs that failed have no "
                          "figure. `harness compare` judges two configurations on these per-run figures.")
    return Section("spread", "Run-to-run spread", (table,))


# --- the two study figures ------------------------------------------------------------


def _bar_note(planned: Planned | None) -> str:
    if planned is None:
        return "no run"
    if planned.run is None or not planned.run.completed:
        return planned.status.split(":")[0]
    run = planned.run
    return "INVALID" if run.invalid else ("" if run.compliant else "quick")


def _throughput_figure(inp: ReportInput) -> Image:
    bars = []
    for precision in _precisions(inp):
        planned = _cell(inp, precision, Scenario.OFFLINE)
        value, point, ci = _headline_value(planned), None, None
        if value is not None and planned.run.stats.get("steady_state"):
            steady = planned.run.stats["steady_state"]
            point, ci = steady["mean_rate"], (steady["mean_rate_ci_low"], steady["mean_rate_ci_high"])
        bars.append(charts.Bar(precision, value, _bar_note(planned), point, ci))
    chart = charts.BarChart("Offline throughput by precision", "images/s", 1, rate,
                            "LoadGen result", "steady-state mean, 95 % CI")
    caption = "Bars: LoadGen's samples/s. Dots and whiskers: the steady-state rate with its 95 % interval."
    if all(b.point is None for b in bars):
        caption += (" None here: no run completed enough batches for a rate over time (a longer --duration "
                    "or a smaller --batch-size gives them).")
    return Image("figure1-throughput", "Figure 1. Throughput by precision (Offline)", caption,
                 charts.precision_bars(chart, bars))


def _latency_figure(inp: ReportInput) -> Image:
    bars = []
    for precision in _precisions(inp):
        planned = _cell(inp, precision, Scenario.SINGLE_STREAM)
        value = _headline_value(planned)
        point = ci = marker = None
        if value is not None:
            p90 = _percentile(planned.run, "p90")
            point, ci = p90["value_ns"], (p90["ci_low_ns"], p90["ci_high_ns"])
            marker = planned.run.result.get("early_stopping_p90_ns")
        bars.append(charts.Bar(precision, value, _bar_note(planned), point, ci, marker))
    chart = charts.BarChart("Batch-1 p90 latency by precision", "p90 latency (ms)", 1e6, lambda ms: f"{ms:.3g} ms",
                            "LoadGen p90", "harness p90, 95 % CI", "early-stopping p90")
    return Image("figure2-latency", "Figure 2. Batch-1 p90 latency by precision (SingleStream)",
                 "Bars: LoadGen's 90th-percentile latency. Dots and whiskers: the harness's p90 with its "
                 "distribution-free 95 % interval. Triangles: LoadGen's early-stopping estimate.",
                 charts.precision_bars(chart, bars))


# --- each run -------------------------------------------------------------------------


def _run_title(run: RunView) -> str:
    kind = "" if run.kind == "performance" else f" · {run.kind}"
    return f"{run.precision.upper()} · {run.scenario} · batch {run.batch_size}{kind}"


def _run_figure(run: RunView, number: str) -> Image:
    stats = run.stats
    series, steady = stats.get("throughput"), stats.get("steady_state")
    p90 = _percentile(run, "p90")
    spread = run.latencies_ns.max() / max(run.latencies_ns.min(), 1)
    panels = charts.RunPanels(
        latencies_ns=run.latencies_ns, samples=run.samples,
        completions_ns=run.completions_ns, p50_ns=_percentile(run, "p50")["value_ns"], p90_ns=p90["value_ns"],
        p90_ci_ns=(p90["ci_low_ns"], p90["ci_high_ns"]),
        latency_label="completion since issue" if run.scenario is Scenario.OFFLINE else "query latency",
        log_x=run.scenario is not Scenario.OFFLINE and spread > LOG_SPREAD,
        colour=charts.PRECISION_COLOURS.get(run.precision, charts.OTHER_COLOUR),
        rates=tuple(series["rates"]) if series else None, bin_s=series["bin_s"] if series else None,
        warmup_s=steady["warmup_s"] if steady else None, cooldown_s=steady["cooldown_s"] if steady else None,
        steady_rate=steady["mean_rate"] if steady else None,
        steady_ci=(steady["mean_rate_ci_low"], steady["mean_rate_ci_high"])
        if steady and steady["mean_rate_ci_low"] is not None else None)
    return Image(f"figure{number.replace('.', '-')}-{run.run_id}", f"Figure {number}. {_run_title(run)}",
                 "Latency histogram and CDF (shaded: the p90's 95 % interval), and completed samples per "
                 "second over the run (shaded: warm-up and cool-down; line: steady-state mean).",
                 charts.run_panels(panels))


def _stats_table(run: RunView) -> Table:
    stats = run.stats
    agreement = stats.get("agreement", {})
    rows = []
    for name in PERCENTILES_SHOWN:
        e = _percentile(run, name)
        theirs = agreement.get(f"{name}_ns")
        rows.append((name, latency(e["value_ns"]), interval(e["ci_low_ns"], e["ci_high_ns"], latency),
                     latency(theirs["loadgen"]) if theirs else "", _difference(theirs, latency)))
    lat = stats["latency"]
    mean = agreement.get("mean_ns")
    rows.append(("mean", latency(lat["mean_ns"]), interval(lat["mean_ci_low_ns"], lat["mean_ci_high_ns"], latency),
                 latency(mean["loadgen"]) if mean else "", _difference(mean, latency)))
    for key in ("min", "max"):
        theirs = agreement.get(f"{key}_ns")
        rows.append((key, latency(lat[f"{key}_ns"]), "", latency(theirs["loadgen"]) if theirs else "",
                     _difference(theirs, latency)))
    early, theirs = stats.get("early_stopping"), agreement.get("early_stopping_p90_ns")
    if early:
        rows.append(("early-stopping p90", latency(early["estimate_ns"]) if early["met"] else "not met",
                     f"{early['queries']} queries, {early['discarded']} discarded", 
                     latency(theirs["loadgen"]) if theirs else "", _difference(theirs, latency)))
    sps = agreement.get("samples_per_second")
    rows.append(("samples/s over the run", rate(stats["overall_rate"]), "",
                 rate(sps["loadgen"]) if sps else "", _difference(sps, lambda v: f"{v:,.3g}")))
    steady = stats.get("steady_state")
    if steady:
        rows.append(("samples/s steady state", rate(steady["mean_rate"]),
                     interval(steady["mean_rate_ci_low"], steady["mean_rate_ci_high"], rate),
                     "", f"warm-up {steady['warmup_s']:g} s, cool-down {steady['cooldown_s']:g} s"))
    return Table(("Statistic", "Harness", "95 % interval", "LoadGen", "Harness − LoadGen"), tuple(rows),
                 caption=" · ".join([f"{lat['count']:,} latencies", *stats.get("notes", [])]))


def _difference(agreement: dict | None, show) -> str:
    if not agreement:
        return ""
    relative = agreement["relative"]
    sign = "+" if agreement["difference"] >= 0 else "−"
    text = f"{sign}{show(abs(agreement['difference']))}"
    return text + (f" ({relative * 100:+.1f} %)" if relative is not None else "")


def _runs_section(inp: ReportInput) -> Section:
    blocks = []
    for n, run in enumerate(inp.completed, 1):
        blocks.append(Section(f"run-{n}", _run_title(run), (
            Paragraph((validity_badge(run), compliance_badge(run), run.run_id)),
            _run_figure(run, f"3.{n}"), _stats_table(run))))
    if not blocks:
        blocks.append(Paragraph(("No run completed.",)))
    return Section("runs", "Runs", tuple(blocks))


# --- disclosure -----------------------------------------------------------------------


def build_document(inp: ReportInput) -> Document:
    runs = inp.runs
    system = runs[0].record.get("system", {}) if runs else {}
    model = runs[0].record.get("model", {}).get("name", "model") if runs else "model"
    badges = [Badge(f"{len(inp.completed)}/{len(inp.planned)} runs completed",
                    "good" if len(inp.completed) == len(inp.planned) else "warn")]
    if any(not r.compliant for r in inp.completed):
        badges.append(Badge("NOT COMPLIANT (quick)", "warn"))
    if any(r.synthetic_weights for r in runs):
        badges.append(Badge("synthetic weights", "info"))
    if any(r.invalid for r in inp.completed):
        badges.append(Badge("INVALID runs", "bad"))
    when = f" · {inp.created}" if inp.created else ""
    kind = {"sweep": "sweep", "formal": "formal run", "run": "run", "runs": "runs in"}[inp.kind]
    return Document(
        title=f"{model} on {system.get('cpu_model', 'an unknown CPU')}",
        subtitle=f"{kind} {inp.path.name}{when} · harness {runs[0].record.get('harness_version', '?') if runs else '?'}",
        badges=tuple(badges),
        sections=(_headline(inp), *filter(None, [_spread_section(inp)]),
                  Section("figures", "The study's figures", (_throughput_figure(inp), _latency_figure(inp))),
                  *filter(None, [scenarios_section(inp)]),
                  _runs_section(inp), disclosure_section(inp),
                  Section("method", "Method", tuple(Paragraph((m,)) for m in METHOD))),
    )
