"""The short human summary printed at the end of a run, from run.json alone."""

from __future__ import annotations

from harness.results.repeats import spread_of


def _metric(result: dict, mode: str) -> str:
    if mode == "accuracy":
        return f"top-1 {result['top1']:.3f}%" if "top1" in result else "no result"
    value, metric = result.get("value"), result.get("metric")
    if not value:
        return "no result"
    if metric == "samples_per_second":
        return f"{value:.1f} samples/s"
    if metric == "completed_samples_per_second":
        p99, bound = result.get("p99_latency_ns"), result.get("latency_bound_ns")
        return (f"{value:.1f} samples/s completed at {result.get('target_qps') or 0:.1f} offered, "
                f"p99 latency {(p99 or 0) / 1e6:.2f} ms (bound {(bound or 0) / 1e6:.0f} ms)")
    name = "p99" if metric == "p99_latency_ns" else "p90"
    text = f"{name} latency {value / 1e6:.2f} ms"
    early = result.get(f"early_stopping_{name}_ns")
    if early:
        text += f" (early-stopping {name} estimate {early / 1e6:.2f} ms)"
    return text


def _tuned(cfg: dict) -> str:
    profile = cfg.get("system_profile")
    return f" (defaults from system profile {profile.rsplit('/', 1)[-1]})" if profile else ""


def summary_lines(record: dict) -> list[str]:
    cfg, result = record["config"], record.get("result", {})
    compliant = "compliant length" if record.get("compliant_length") else \
        "NOT compliant (--quick or short --duration)"
    # Accuracy mode has no performance verdict: LoadGen writes no VALID or INVALID for it.
    verdict = "accuracy mode" if cfg["mode"] == "accuracy" else result.get("validity") or "no verdict"
    lines = [
        f"{cfg['scenario']} {cfg['mode']} {cfg['precision']}: {_metric(result, cfg['mode'])}",
        f"  LoadGen: {verdict}, {compliant}, {result.get('samples')} samples",
        f"  model: {record['model']['name']} on {', '.join(record.get('providers', []))}",
        f"  precision: {cfg['precision']} requested, engine reports "
        f"{record.get('precision', {}).get('reported', 'nothing')} ({record.get('engine', {}).get('reason', '')})",
        f"  placement: {record['placement']['description']}{_tuned(cfg)}",
        f"  layout from: {record['placement'].get('source', 'not recorded')}",
    ]
    search = record.get("server_search")
    if search:
        lines.append(f"  rate search: {len(search['steps'])} steps, highest VALID {search['highest_valid']:.1f} "
                     f"samples/s, run at {search['margin']:.0%} of it; steps in {search['directory']}")
    if "top1" in result:
        lines.append(f"  accuracy: top-1 {result['top1']:.3f}% ({result['accuracy_good']}/"
                     f"{result['accuracy_total']})")
    if record.get("fidelity"):
        f = record["fidelity"]
        top5 = f"{f['top5_overlap']:.1%}" if f["top5_overlap"] is not None else "n/a"
        lines.append(f"  fidelity vs FP32 ({f['samples']} samples): top-1 agreement {f['top1_agreement']:.1%}, "
                     f"top-5 overlap {top5}, largest relative output difference {f['max_rel_diff'] or 0:.2e}")
    for error in result.get("loadgen_errors", []):
        lines.append(f"  LoadGen error: {error}")
    lines += [f"  warning: {w}" for w in record["placement"].get("warnings", [])]
    lines += [f"  note: {n}" for n in record.get("notes", [])]
    lines.append(f"  run directory: {record['run_id']}")
    return lines


def print_summary(record: dict) -> None:
    print("\n".join(summary_lines(record)))


def spread_lines(records: list[dict], group: str) -> list[str]:
    """The run-to-run spread of repeats of one configuration (`records`, one per run made)."""
    spread = spread_of(records)
    if spread is None:
        return [f"repeats {group}: none of {len(records)} runs has a result"]
    return [f"repeats {group}: {len(spread.values)} of {len(records)} runs with a result",
            f"  spread: {spread.line()}"]
