"""The short human summary printed at the end of a run, from run.json alone."""

from __future__ import annotations


def _metric(result: dict, mode: str) -> str:
    if mode == "accuracy":
        return f"top-1 {result['top1']:.3f}%" if "top1" in result else "no result"
    if result.get("metric") == "samples_per_second":
        return f"{result['value']:.1f} samples/s" if result.get("value") else "no result"
    value = result.get("value")
    text = f"p90 latency {value / 1e6:.2f} ms" if value else "no result"
    if result.get("early_stopping_p90_ns"):
        text += f" (early-stopping p90 estimate {result['early_stopping_p90_ns'] / 1e6:.2f} ms)"
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
    ]
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
