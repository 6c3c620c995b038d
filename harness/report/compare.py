"""Is run B faster or slower than run A, and is the difference real?

Each side is one run directory, or a directory of repeats: every completed run directly
inside it, all of one configuration (what `harness run --repeat N --output-dir DIR` writes).
With 2 or more runs on both sides the verdict is at run level: Welch's t on the runs'
headline figures (harness.results.comparison.compare_run_level), because samples inside one
run are correlated and miss the drift between runs. Otherwise the within-run tests below
run on one run per side (a group's median run), and the output says how many runs per side
a run-level verdict needs.

Within one run: SingleStream and MultiStream runs are compared on their per-query latencies (the p90 or
p99 that is the scenario's metric, and the median); Offline runs on their steady-state
throughput per time bin, both bins of one width so that the rates are alike; Server runs
on both: the p99 its bound is stated at, and the throughput. The tests are
harness.results.stats's: Mann–Whitney U with a bootstrap interval of the ratio B/A.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.results import comparison, throughput
from harness.results.format import latency
from harness.results.repeats import Spread, headline, metric_words, repeat_of, show_figure, spread_of
from harness.results.runjson import ABANDONED, RUN_JSON, UNFINISHED
from harness.results.runstats import RunDataError, bin_width, completions_of, latencies_of, steady_rates, throughput_of
from harness.results.runview import RunView, read_run

# Conventional bands for the rank-biserial correlation |r| (Cohen's small/medium/large).
EFFECT_WORDS = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (1.01, "large"))


class NotComparable(HarnessError):
    """Two runs measure different things; --force compares them anyway."""


@dataclass(frozen=True)
class Side:
    """What one side of a comparison is: one run, or the completed repeats in a directory."""

    path: Path
    runs: tuple[RunView, ...]  # completed, in name (start time) order; at least one
    left_out: tuple[str, ...] = ()  # runs of the directory that did not complete, one line each

    @property
    def spread(self) -> Spread | None:
        return spread_of([r.record for r in self.runs])

    @property
    def run(self) -> RunView:
        """The run a within-run test takes: the only one, or the one with the median figure
        (the lower of the middle two for an even count)."""
        figured = sorted((headline(r.record)[1], k) for k, r in enumerate(self.runs) if headline(r.record))
        if len(self.runs) == 1 or not figured:
            return self.runs[0]
        return self.runs[figured[(len(figured) - 1) // 2][1]]


@dataclass(frozen=True)
class Outcome:
    """The comparisons made, primary first, and what else the reader should know."""

    comparisons: tuple[comparison.Comparison, ...]
    notes: tuple[str, ...]
    untestable: str | None = None  # why no comparison could be made
    run_level: comparison.RunLevelComparison | None = None  # the verdict, when both sides have repeats
    runs_needed: int | None = None  # runs per side a run-level verdict needs; None: no practical number

    @property
    def level(self) -> str:
        return "run" if self.run_level else "within-run"

    @property
    def verdict(self) -> str:
        if self.run_level:
            rl = self.run_level
            return f"at run level ({len(rl.a_values)} and {len(rl.b_values)} runs): {rl.verdict}"
        if not self.comparisons:
            return f"no test possible: {self.untestable}"
        primary = self.comparisons[0]
        smallest_p = smallest_p_value(primary.n_a, primary.n_b)
        if not primary.significant and smallest_p >= 1 - primary.confidence:
            return (f"inconclusive: {primary.n_a} and {primary.n_b} {primary.statistic} samples are too few for "
                    f"Mann-Whitney to reach p < {1 - primary.confidence:g} (its smallest p is {smallest_p:.2g}); "
                    f"B/A = {primary.ratio:.3f} [{primary.ratio_ci[0]:.3f}, {primary.ratio_ci[1]:.3f}]; "
                    "a longer --duration gives a test")
        return primary.verdict


def smallest_p_value(n_a: int, n_b: int) -> float:
    """The smallest two-sided p the exact Mann-Whitney test can give: all of one run above the other."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


def load_run(path: Path) -> RunView:
    return _completed(read_run(path), path)


def _completed(run: RunView, path: Path) -> RunView:
    status = run.record.get("status")
    if status in UNFINISHED:
        process = run.record.get("process") or {}
        where = f" (process {process['pid']} on {process.get('host')})" if process.get("pid") else ""
        raise RunDataError(f"{path} is still {status}{where}; compare it once it has finished")
    if status == ABANDONED:
        raise RunDataError(f"{path} was abandoned: {run.record['failure']}; compare completed runs")
    if not run.completed:
        raise RunDataError(f"{path} did not complete (status {status!r}); compare completed runs")
    return run


# What repeats of one configuration share; the first that differs is named in the refusal.
SAME_CONFIGURATION = (("scenario", lambda r: r.scenario), ("precision", lambda r: r.precision),
                      ("mode", lambda r: r.mode), ("model", lambda r: r.record["config"]["model"]),
                      ("model sha256", lambda r: r.record.get("model", {}).get("sha256")),
                      ("execution providers", lambda r: r.record.get("providers")),
                      ("placement", lambda r: r.record.get("placement", {}).get("description")),
                      ("length", lambda r: (r.record["config"].get("quick"), r.record["config"].get("duration"))))


def load_side(path: Path) -> Side:
    """A run directory, or a directory of repeats of one configuration (its completed runs)."""
    path = Path(path)
    if (path / RUN_JSON).is_file() or not path.is_dir():
        return Side(path, (load_run(path),))
    inside = [p for p in sorted(path.iterdir()) if (p / RUN_JSON).is_file()]
    if not inside:
        raise RunDataError(f"{path} has no {RUN_JSON} and holds no run directory: pass a run directory, or a "
                           "directory of repeats (harness run --repeat N --output-dir DIR)")
    runs, left_out = [], []
    for run_dir in inside:
        try:
            runs.append(_completed(read_run(run_dir), run_dir))
        except HarnessError as exc:
            left_out.append(str(exc))
    if not runs:
        raise RunDataError(f"none of the {len(inside)} runs in {path} completed: {left_out[0]}")
    for name, get in SAME_CONFIGURATION:
        other = next((r for r in runs if get(r) != get(runs[0])), None)
        if other is not None:
            raise NotComparable(f"{path} holds runs of different configurations ({name}: {get(runs[0])} in "
                                f"{runs[0].run_id}, {get(other)} in {other.run_id}); pass a directory holding "
                                "the repeats of one configuration")
    return Side(path, tuple(runs), tuple(left_out))


def label(run: RunView) -> str:
    compliant = "compliant length" if run.compliant else "NOT compliant (quick)"
    validity = run.result.get("validity") or "no LoadGen result"
    return f"{run.run_id} ({run.precision} {run.scenario}, {validity}, {compliant})"


def check_comparable(a: RunView, b: RunView) -> None:
    """Refuse runs of different scenarios or models, and a model file that changed."""
    if a.scenario != b.scenario:
        raise NotComparable(f"A is {a.scenario} and B is {b.scenario}: different metrics; --force compares "
                            "their throughput anyway")
    model_a, model_b = a.record["config"]["model"], b.record["config"]["model"]
    if model_a != model_b:
        raise NotComparable(f"A ran model {model_a} and B ran {model_b}; --force compares them anyway")
    sha_a, sha_b = (r.record.get("model", {}).get("sha256", "unknown") for r in (a, b))
    if a.precision == b.precision and sha_a != sha_b:
        raise NotComparable(f"model {model_a} changed between the runs (sha256 {sha_a[:12]} vs {sha_b[:12]}); "
                            "--force compares them anyway")


def differences(a: RunView, b: RunView) -> list[str]:
    """What else differs between the runs, in words: the reader decides what it explains."""
    found = []
    for name, get in (("precision", lambda r: r.precision),
                      ("execution providers", lambda r: ", ".join(r.record.get("providers", [])) or "unknown"),
                      ("placement", lambda r: r.record.get("placement", {}).get("description")),
                      ("CPU", lambda r: r.record.get("system", {}).get("cpu_model")),
                      ("host", lambda r: r.record.get("system", {}).get("hostname")),
                      ("harness version", lambda r: r.record.get("harness_version"))):
        if get(a) != get(b):
            found.append(f"{name}: {get(a)} -> {get(b)}")
    return found


def _throughput(a: RunView, b: RunView, alpha: float) -> tuple[comparison.Comparison | None, str | None]:
    widths = [bin_width(completions_of(r.timeline).max() / 1e9, len(r.timeline)) for r in (a, b)]
    if None in widths:
        short = " and ".join(f"{n} ({len(r.timeline)} batches)" for n, r, w in zip("AB", (a, b), widths) if w is None)
        return None, (f"too few completions to bin throughput over time in {short}; a longer --duration "
                      "or a smaller --batch-size gives enough")
    width = max(widths)  # the coarser width holds enough completions per bin in both runs
    rates = []
    for run in (a, b):
        series = throughput_of(run.timeline, width)
        rates.append(steady_rates(series, throughput.steady_state(series)) if len(series.rates) else np.array([]))
    if min(r.size for r in rates) < 2:
        return None, f"fewer than 2 steady-state bins of {width:g} s in one run"
    return comparison.compare_throughput(rates[0], rates[1], alpha), None


def compare_runs(a: RunView, b: RunView, alpha: float = 0.05) -> Outcome:
    notes = []
    comparisons = []
    untestable = None
    scenario = a.scenario if a.scenario == b.scenario else None
    if scenario is not None and scenario.percentile:  # a latency metric, or Server's latency bound
        la, lb = latencies_of(a.timeline, scenario), latencies_of(b.timeline, scenario)
        comparisons += [comparison.compare_latencies(la, lb, alpha, scenario.percentile),
                        comparison.compare_latencies(la, lb, alpha, 0.50)]
    if scenario is None or not scenario.latency_bound:
        if scenario is None:
            notes.append("different scenarios: only throughput is compared")
        throughput, untestable = _throughput(a, b, alpha)
        comparisons += [throughput] if throughput else []
    for run, name in ((a, "A"), (b, "B")):
        if not run.compliant:
            notes.append(f"{name} is not a compliant-length run: fine for a comparison, not for a claim")
        if run.invalid:
            notes.append(f"{name} is INVALID by LoadGen's rules")
    return Outcome(tuple(comparisons), tuple(notes), untestable)


def compare_sides(a: Side, b: Side, alpha: float = 0.05) -> Outcome:
    """At run level when both sides have repeats; else within one run per side, saying how many
    runs a run-level verdict needs."""
    notes = [f"{name}: left out {line}" for name, side in (("A", a), ("B", b)) for line in side.left_out]
    spreads = (a.spread, b.spread)
    if min(len(a.runs), len(b.runs)) >= comparison.MIN_RUNS:
        if None in spreads or spreads[0].metric != spreads[1].metric \
                or min(len(s.values) for s in spreads) < comparison.MIN_RUNS:
            raise NotComparable(f"a run-level comparison needs one performance figure of one metric in at least "
                                f"{comparison.MIN_RUNS} runs per side; A's runs report {_metrics(a)} and B's "
                                f"{_metrics(b)}")
        scenario = a.runs[0].scenario
        run_level = comparison.compare_run_level(
            spreads[0].values, spreads[1].values, alpha, f"{metric_words(spreads[0].metric)} per run",
            "ns" if spreads[0].metric.endswith("_ns") else "samples/s",
            lower_is_better=scenario.latency_bound, show=lambda v: show_figure(spreads[0].metric, v))
        notes += _run_level_notes(a, b)
        return Outcome((), tuple(notes), run_level=run_level)
    within = compare_runs(a.run, b.run, alpha)
    for name, side in (("A", a), ("B", b)):
        if len(side.runs) > 1:
            notes.append(f"{name} has {len(side.runs)} runs; the within-run test takes its median run "
                         f"{side.run.run_id}")
    needed, sentence = _runs_needed(a, b, alpha)
    notes.append(sentence)
    return Outcome(within.comparisons, (*notes, *within.notes), within.untestable, runs_needed=needed)


def _metrics(side: Side) -> str:
    found = Counter((headline(r.record) or ("no figure",))[0] for r in side.runs)
    return ", ".join(f"{metric} in {n} of {len(side.runs)}" for metric, n in sorted(found.items()))


def _runs_needed(a: Side, b: Side, alpha: float) -> tuple[int | None, str]:
    """Runs per side for a run-level verdict, and the sentence that says so, plainly."""
    plain = (f"this verdict is within one run per side: samples inside a run are correlated and do not see "
             f"drift between runs, so it may call run-to-run noise a difference; a run-level verdict needs at "
             f"least {comparison.MIN_RUNS} runs per side")
    repeated = next((side for side in (a, b) if len(side.runs) >= comparison.MIN_RUNS), None)
    figures = [side.spread for side in (a, b)]
    if repeated is None or None in figures or figures[0].metric != figures[1].metric:
        return comparison.MIN_RUNS, (f"{plain} (harness run --repeat {comparison.MIN_RUNS} or more into one "
                                     "directory per side, then compare the directories)")
    name = "A" if repeated is a else "B"
    spread = repeated.spread
    ratio = figures[1].median / figures[0].median
    needed = comparison.runs_needed(spread.log_sd, ratio, alpha)
    observed = (f"at {name}'s run-to-run spread (standard deviation of the log figures {spread.log_sd:.3g} over "
                f"{len(spread.values)} runs), a difference the size of this one (B/A {ratio:.3f} of the median "
                "figures)")
    if needed is None:
        reach = "cannot be told from the spread by any number of runs" if ratio == 1 else \
            f"needs more than {comparison.MOST_RUNS} runs per side to be told from the spread: no practical number"
        return None, f"{plain}; {observed} {reach}"
    return needed, (f"{plain}; {observed} needs {needed} runs per side for Welch's t at alpha {alpha:g} with "
                    f"power {comparison.RUNS_POWER:g} (--repeat {needed})")


def _run_level_notes(a: Side, b: Side) -> list[str]:
    notes = []
    for side, name in ((a, "A"), (b, "B")):
        if not side.runs[0].compliant:
            notes.append(f"{name}'s runs are not of compliant length: fine for a comparison, not for a claim")
        invalid = sum(r.invalid for r in side.runs)
        if invalid:
            notes.append(f"{invalid} of {name}'s {len(side.runs)} runs {'is' if invalid == 1 else 'are'} INVALID by "
                         "LoadGen's rules")
    return notes


def effect_words(rank_biserial: float) -> str:
    return next(word for bound, word in EFFECT_WORDS if abs(rank_biserial) < bound)


def _show(value: float, unit: str) -> str:
    return latency(value, 4) if unit == "ns" else f"{value:,.1f} samples/s"


def _loadgen_line(a: RunView, b: RunView) -> str | None:
    ra, rb = a.result, b.result
    if ra.get("metric") != rb.get("metric") or not ra.get("value") or not rb.get("value"):
        return None
    unit = "ns" if ra["metric"] == "p90_latency_ns" else "samples/s"
    name = "p90 latency" if unit == "ns" else "throughput"
    return f"LoadGen's {name}: A {_show(ra['value'], unit)}, B {_show(rb['value'], unit)} (B/A {rb['value'] / ra['value']:.3f})"


def _side_lines(name: str, side: Side) -> list[str]:
    if len(side.runs) == 1:
        return [f"{name}: {label(side.run)}"]
    run = side.runs[0]
    compliant = "compliant length" if run.compliant else "NOT compliant (quick)"
    groups = sorted({repeat_of(r.record)["group"] for r in side.runs if repeat_of(r.record)})
    grouped = f"repeat group {', '.join(groups)}" if groups else "no --repeat record: runs made one by one"
    return [f"{name}: {side.path}: {len(side.runs)} runs ({run.precision} {run.scenario}, {compliant}; {grouped})",
            f"   spread: {side.spread.line() if side.spread else 'no performance figure'}"]


def render(a: Side, b: Side, outcome: Outcome) -> str:
    lines = [*_side_lines("A", a), *_side_lines("B", b)]
    lines += [f"   differs in {d}" for d in differences(a.run, b.run)]
    if outcome.run_level:
        rl = outcome.run_level
        lines.append(f"run level, {rl.statistic}: A {_show(rl.a, rl.unit)} (geometric mean, n={len(rl.a_values)}), "
                     f"B {_show(rl.b, rl.unit)} (n={len(rl.b_values)}); B/A {rl.ratio:.3f} [{rl.ratio_ci[0]:.3f}, "
                     f"{rl.ratio_ci[1]:.3f}] ({rl.confidence * 100:g} %); Welch's t = {rl.t_statistic:.3g}, "
                     f"df = {rl.df:.3g}, p = {rl.p_value:.3g}")
    elif line := _loadgen_line(a.run, b.run):
        lines.append(line)
    for c in outcome.comparisons:
        lines.append(f"{c.statistic}: A {_show(c.a, c.unit)} (n={c.n_a}), B {_show(c.b, c.unit)} (n={c.n_b}); "
                     f"B/A {c.ratio:.3f} [{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}] ({c.confidence * 100:g} %); "
                     f"Mann-Whitney p = {c.p_value:.3g}; P(B better) = {c.prob_b_better:.2f}, "
                     f"rank-biserial r = {c.rank_biserial:+.2f} ({effect_words(c.rank_biserial)} effect)")
    lines += [f"note: {n}" for n in outcome.notes]
    lines.append(f"verdict: {outcome.verdict}")
    return "\n".join(lines)


def to_json(a: Side, b: Side, outcome: Outcome) -> dict:
    return {"a": str(a.path), "b": str(b.path), "level": outcome.level,
            "runs_a": [r.run_id for r in a.runs], "runs_b": [r.run_id for r in b.runs],
            "spread_a": a.spread.to_json() if a.spread else None, "spread_b": b.spread.to_json() if b.spread else None,
            "differences": differences(a.run, b.run),
            "run_level": outcome.run_level.to_json() if outcome.run_level else None,
            "runs_needed": None if outcome.run_level else outcome.runs_needed,
            "comparisons": [{**c.to_json(), "effect": effect_words(c.rank_biserial)} for c in outcome.comparisons],
            "notes": list(outcome.notes), "verdict": outcome.verdict}
