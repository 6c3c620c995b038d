"""Is run B faster or slower than run A, and is the difference real?

SingleStream and MultiStream runs are compared on their per-query latencies (the p90 or
p99 that is the scenario's metric, and the median); Offline runs on their steady-state
throughput per time bin, both bins of one width so that the rates are alike; Server runs
on both: the p99 its bound is stated at, and the throughput. The tests are
harness.results.stats's: Mann–Whitney U with a bootstrap interval of the ratio B/A.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError
from harness.results import comparison, throughput
from harness.results.format import latency
from harness.results.runjson import ABANDONED, UNFINISHED
from harness.results.runstats import RunDataError, bin_width, completions_of, latencies_of, steady_rates, throughput_of
from harness.results.runview import RunView, read_run

# Conventional bands for the rank-biserial correlation |r| (Cohen's small/medium/large).
EFFECT_WORDS = ((0.1, "negligible"), (0.3, "small"), (0.5, "medium"), (1.01, "large"))


class NotComparable(HarnessError):
    """Two runs measure different things; --force compares them anyway."""


@dataclass(frozen=True)
class Outcome:
    """The comparisons made, primary first, and what else the reader should know."""

    comparisons: tuple[comparison.Comparison, ...]
    notes: tuple[str, ...]
    untestable: str | None = None  # why no comparison could be made

    @property
    def verdict(self) -> str:
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
    run = read_run(path)
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


def render(a: RunView, b: RunView, outcome: Outcome) -> str:
    lines = [f"A: {label(a)}", f"B: {label(b)}"]
    lines += [f"   differs in {d}" for d in differences(a, b)]
    if line := _loadgen_line(a, b):
        lines.append(line)
    for c in outcome.comparisons:
        lines.append(f"{c.statistic}: A {_show(c.a, c.unit)} (n={c.n_a}), B {_show(c.b, c.unit)} (n={c.n_b}); "
                     f"B/A {c.ratio:.3f} [{c.ratio_ci[0]:.3f}, {c.ratio_ci[1]:.3f}] ({c.confidence * 100:g} %); "
                     f"Mann-Whitney p = {c.p_value:.3g}; P(B better) = {c.prob_b_better:.2f}, "
                     f"rank-biserial r = {c.rank_biserial:+.2f} ({effect_words(c.rank_biserial)} effect)")
    lines += [f"note: {n}" for n in outcome.notes]
    lines.append(f"verdict: {outcome.verdict}")
    return "\n".join(lines)


def to_json(a: RunView, b: RunView, outcome: Outcome) -> dict:
    return {"a": str(a.path), "b": str(b.path), "differences": differences(a, b),
            "comparisons": [{**c.to_json(), "effect": effect_words(c.rank_biserial)} for c in outcome.comparisons],
            "notes": list(outcome.notes), "verdict": outcome.verdict}
