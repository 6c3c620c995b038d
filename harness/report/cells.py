"""What one run says about itself, as the report's badges and table cells."""

from __future__ import annotations

from harness.report.document import Badge
from harness.results.format import milliseconds, rate
from harness.results.repeats import repeat_of, spread_of
from harness.results.runview import RunView


def compliance_badge(run: RunView) -> Badge:
    if run.compliant:
        return Badge("COMPLIANT LENGTH", "good")
    return Badge("NOT COMPLIANT (quick)" if run.record["config"].get("quick") else "NOT COMPLIANT (short)", "warn")


def validity_badge(run: RunView) -> Badge:
    if run.mode == "accuracy":
        return Badge("ACCURACY RUN", "info")
    return Badge(run.validity, "bad" if run.invalid else "good")


def precision_proof(run: RunView):
    """What the engine reported it ran (run.json `precision`), next to what was requested."""
    proof = run.record.get("precision")
    if not isinstance(proof, dict):
        return str(proof) if proof else Badge("not recorded by this harness version", "warn")
    reported = proof.get("reported") or proof.get("error") or "nothing"
    verdict = Badge("matches request", "good") if proof.get("matches") else Badge("does not match request", "bad")
    evidence = proof.get("convolution_precisions") or proof.get("operators") or {}
    details = ", ".join(f"{k} × {v}" for k, v in evidence.items()) if isinstance(evidence, dict) else str(evidence)
    hint = proof.get("inference_precision_hint")
    source = proof.get("source", "")
    lines = [f"\n{source}" + (f": {details}" if details else "")] if source or details else []
    if hint:
        lines.append(f"\nOpenVINO inference precision hint: {hint}" + _hint_scope(proof.get("requested"), hint))
    return (f"{reported} ", verdict, *lines)


def _hint_scope(requested: str | None, hint: str) -> str:
    """Why an INT8 run's hint names a float type: the QDQ graph itself sets int8 where it
    quantized; the hint only governs the layers it left in floating point."""
    if requested != "int8" or hint in ("i8", "u8", "int8"):
        return ""
    return (" (the QDQ model's quantize/dequantize pairs make its convolutions int8; the hint sets "
            "only the precision of the layers left in floating point)")


def engine_choice(run: RunView) -> str:
    engine = run.record.get("engine") or {}
    providers = ", ".join(run.record.get("providers") or []) or "unknown"
    if not engine:
        return providers
    return f"{engine.get('ep', '?')} EP: {engine.get('reason', '')}\nsessions on {providers}"


def spread_row(runs: list[RunView]) -> tuple[str, ...]:
    """One configuration's repeats as a row: how many have a figure, its median, range and spread."""
    first = runs[0]
    planned = max(repeat_of(r.record)["of"] for r in runs)
    spread = spread_of([r.record for r in runs])
    name = f"{first.precision.upper()} · {first.scenario} · batch {first.batch_size}"
    if spread is None:
        return (name, f"0 of {planned}", first.scenario.metric, "no result", "", "")
    show = milliseconds if first.scenario.latency_bound else rate
    return (name, f"{len(spread.values)} of {planned}", first.scenario.metric, show(spread.median),
            f"{show(spread.low)} – {show(spread.high)}", f"{spread.relative * 100:.1f} %")
