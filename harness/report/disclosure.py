"""The report's full disclosure: the system tested and every run's settings, as recorded."""

from __future__ import annotations

from harness.cpu.topology import format_cpulist
from harness.report.cells import compliance_badge, engine_choice, precision_proof, validity_badge
from harness.report.document import Badge, Callout, Paragraph, Section, Table
from harness.report.inputs import ReportInput, RunView
from harness.results.format import gib
from harness.results.runview import LOADGEN_LABELS


def _system_table(inp: ReportInput) -> list:
    runs = inp.runs
    system, model = runs[0].record.get("system", {}), runs[0].record.get("model", {})
    os_info = system.get("os", {})
    numa = "; ".join(f"node {n['id']}: CPUs {_cpu_ranges(n['cpus'])}" for n in system.get("numa_nodes", []))
    versions = ", ".join(f"{k} {v}" for k, v in system.get("versions", {}).items())
    rows = (
        ("CPU model", system.get("cpu_model", "unknown")),
        ("Sockets", str(system.get("sockets", "unknown"))),
        ("Cores", str(system.get("cores", "unknown"))),
        ("Threads", str(system.get("threads", "unknown"))),
        ("Memory", gib(system.get("memory_bytes"))),
        ("NUMA layout", numa or "unknown"),
        ("CPUs allowed", _cpu_ranges(system.get("allowed_cpus", []))),
        ("OS", os_info.get("name", "unknown")),
        ("Kernel", f"{os_info.get('kernel', 'unknown')} ({os_info.get('machine', '')})"),
        ("ISA flags", " ".join(system.get("isa", [])) or "none of interest"),
        ("Software versions", versions or "unknown"),
        ("Model", model.get("name", "unknown")),
        ("Model hash (sha256)", _model_hashes(runs)),
        ("Weights", Badge("synthetic", "warn") if model.get("synthetic_weights") else "trained (as supplied)"),
        ("Host", system.get("hostname", "unknown")),
    )
    blocks = [Table(("Field", "Value"), rows, caption="The system as recorded in run.json.", fields=True)]
    keys = {(r.record.get("system", {}).get("cpu_model"), r.record.get("system", {}).get("hostname"),
             r.record.get("system", {}).get("os", {}).get("kernel")) for r in runs}
    if len(keys) > 1:
        blocks.append(Callout("bad", "Different systems", "These runs were not all made on one system "
                              "(CPU, host or kernel differ); the table shows the first run's."))
    return blocks


def _model_hashes(runs: tuple[RunView, ...]) -> str:
    hashes = {}
    for run in runs:
        hashes.setdefault(run.record.get("model", {}).get("sha256", "unknown"), []).append(run.precision)
    if len(hashes) == 1:
        return next(iter(hashes))
    return "; ".join(f"{h} ({', '.join(sorted(set(p)))})" for h, p in hashes.items())


def _cpu_ranges(cpus: list[int]) -> str:
    return format_cpulist(cpus) or "none"


def _runs_disclosure(scenario: str, runs: list[RunView]) -> Table:
    """One table per scenario: three precisions side by side still fit a page."""

    def row(name, get):
        return (name, *[get(r) for r in runs])

    def instances(r: RunView) -> str:
        nodes = (r.record.get("cluster") or {}).get("nodes")
        if nodes:  # each cluster node placed its own
            return "\n".join(f"{n['node']}: {n['placement']['description']}" for n in nodes)
        return "\n".join(f"#{i['index']} node {i['node']} CPUs {_cpu_ranges(i['cpus'])} × {i['threads']} threads"
                         for i in r.record.get("placement", {}).get("instances", []))

    def layout(r: RunView) -> str:
        profile = r.record["config"].get("system_profile")
        tuned = f"\nfrom the system profile {profile}" if profile else ""
        return r.record.get("placement", {}).get("description", "unknown") + tuned

    def loadgen(r: RunView) -> str:
        return "\n".join(f"{LOADGEN_LABELS[k]}: {v}" for k, v in r.loadgen.items()) or "not logged"

    rows = (
        row("Run", lambda r: r.run_id),
        row("Scenario", lambda r: r.scenario),
        row("Precision requested", lambda r: f"{r.precision} (EP {r.record['config'].get('ep', 'auto')})"),
        row("Precision proof (engine-reported)", precision_proof),
        row("Execution provider", engine_choice),
        row("Instance layout", layout),
        row("Instances", instances),
        row("LoadGen settings", loadgen),
        row("Samples", lambda r: f"{r.result.get('samples') or 0:,}"),
        row("Result", validity_badge),
        row("Length", compliance_badge),
    )
    return Table(("Field", *[f"{r.precision} {r.scenario}" for r in runs]), rows,
                 caption=f"{scenario} runs, as recorded in run.json and LoadGen's mlperf_log_detail.txt.",
                 fields=True)


def _cluster_tables(runs: list[RunView]) -> list:
    """Each cluster the runs used: its nodes as they described themselves."""
    tables, seen = [], set()
    for run in runs:
        cluster = run.record.get("cluster") or {}
        nodes = cluster.get("nodes") or []
        key = tuple(n["node"] for n in nodes)
        if not nodes or key in seen:
            continue
        seen.add(key)
        dispatch = cluster.get("dispatch") or {}
        overhead = dispatch.get("overhead_us") or {}
        rows = [(n["node"], n["system"].get("cpu_model", "unknown"),
                 f"{n['system'].get('cores', '?')} cores, CPUs {_cpu_ranges(n['system'].get('allowed_cpus', []))}",
                 n["placement"]["description"], f"{n['engine']['ep']}: {n['precision'].get('reported', 'nothing')}",
                 ", ".join(f"{k} {v}" for k, v in n["system"].get("versions", {}).items()))
                for n in nodes]
        caption = (f"Cluster of {len(nodes)} nodes at {cluster.get('address')} ({cluster.get('interconnect')}), "
                   f"LoadGen on {run.record.get('system', {}).get('hostname', 'unknown')} (run {run.run_id})"
                   + (f"; dispatch cost per request p50 {overhead['p50']:.0f} µs, p99 {overhead['p99']:.0f} µs"
                      if overhead else "") + ".")
        tables.append(Table(("Node", "CPU", "Cores", "Placement", "Engine (precision reported)", "Versions"),
                            rows, caption=caption))
    return tables


def disclosure_section(inp: ReportInput) -> Section:
    if not inp.runs:
        return Section("disclosure", "System disclosure", (Paragraph(("No run directory to disclose.",)),))
    scenarios = dict.fromkeys(r.scenario for r in inp.completed)
    per_run = [_runs_disclosure(s, [r for r in inp.completed if r.scenario == s]) for s in scenarios]
    return Section("disclosure", "System disclosure",
                   (*_system_table(inp), *_cluster_tables(list(inp.completed)), *per_run))
