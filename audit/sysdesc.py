"""The submission's descriptions: systems/<system>.json, and each scenario's measurements.json and README.md.

Fields come from what the run recorded about the machine and software (run.json's
`system`, `model`, `config`, `placement`) and from what the harness itself is (one
host, no accelerator, no network between LoadGen and the SUT). Fields only a person
knows (availability, storage, memory configuration, cooling, ...) are set to TO_FILL;
the official checker accepts any text in most of them, so `audit check` warns while
one is left. The round is written into sw_notes, the field the official checkers
leave free, so the tree says which round's rules it was made for.
"""

from __future__ import annotations

import re
import shlex

from audit.runs import RunInfo

TO_FILL = "TO BE FILLED BY SUBMITTER"
NOT_APPLICABLE = "N/A"  # CPU-only system: no accelerator
NO_NETWORK = "N/A (LoadGen and the SUT run in one process on this host)"
SYSTEM_FIELDS = (  # every field the submission checker requires in systems/<system>.json
    "division", "submitter", "status", "system_name", "number_of_nodes", "host_processor_model_name",
    "host_processors_per_node", "host_processor_core_count", "host_memory_capacity", "host_storage_capacity",
    "host_storage_type", "accelerators_per_node", "accelerator_model_name", "accelerator_memory_capacity",
    "framework", "operating_system", "system_type", "other_software_stack", "host_processor_frequency",
    "host_processor_caches", "host_memory_configuration", "host_processor_interconnect", "host_networking",
    "host_networking_topology", "accelerator_frequency", "accelerator_host_interconnect",
    "accelerator_interconnect", "accelerator_interconnect_topology", "accelerator_memory_configuration",
    "accelerator_on-chip_memories", "cooling", "hw_notes", "sw_notes", "host_network_card_count",
    "system_type_detail")
# The fields whose value must not be empty (the official checker's meaningful-response list).
MEANINGFUL_FIELDS = (
    "division", "submitter", "system_type", "status", "system_name", "number_of_nodes",
    "host_processor_model_name", "host_processors_per_node", "host_processor_core_count", "host_memory_capacity",
    "host_memory_configuration", "host_storage_capacity", "host_storage_type", "host_networking",
    "host_network_card_count", "host_networking_topology", "accelerators_per_node", "accelerator_model_name",
    "accelerator_memory_capacity", "accelerator_host_interconnect", "accelerator_memory_configuration",
    "accelerator_interconnect", "cooling", "framework", "operating_system", "other_software_stack")
# What the checker requires besides, when is_network is set (a cluster run: LoadGen here, the SUT
# on Ray nodes).
NETWORK_FIELDS = ("is_network", "network_type", "network_media", "network_rate", "nic_loadgen",
                  "number_nic_loadgen", "net_software_stack_loadgen", "network_protocol", "number_connections",
                  "nic_sut", "number_nic_sut", "net_software_stack_sut", "network_topology")
INTEGER_FIELDS = ("number_of_nodes", "accelerators_per_node")  # the official results table multiplies them
AVAILABILITIES = ("available", "preview", "rdi")
MEASUREMENT_FIELDS = ("input_data_types", "retraining", "starting_weights_filename", "weight_data_types",
                      "weight_transformations")
ROUND_NOTE = re.compile(r"MLPerf Inference (v\d+\.\d+)")


def recorded_round(description: dict) -> str | None:
    """The round a system description says its tree was made for (in sw_notes), or None."""
    found = ROUND_NOTE.search(str(description.get("sw_notes", "")))
    return found.group(1) if found else None


def _framework(versions: dict, providers: list[str]) -> str:
    ort = versions.get("onnxruntime-openvino") or versions.get("onnxruntime")
    name = "ONNX Runtime (OpenVINO build)" if "onnxruntime-openvino" in versions else "ONNX Runtime"
    return f"{name} {ort}, {', '.join(providers) or 'CPUExecutionProvider'}"


def system_description(run: RunInfo, system: str, submitter: str, division: str, round_: str,
                       system_type: str | None = None) -> dict:
    """The SUT's description: this host's, or for a cluster run its first node's (every node's
    system is in its run.json) with the network fields."""
    cluster = run.record.get("cluster")
    s = cluster["nodes"][0]["system"] if cluster else run.record["system"]
    versions = s.get("versions", {})
    sockets = s.get("sockets") or 1
    memory = s.get("memory_bytes")
    fields = {
        "division": division, "submitter": submitter, "status": TO_FILL, "system_name": system,
        "number_of_nodes": str(len(cluster["nodes"])) if cluster else "1",
        "host_processor_model_name": s.get("cpu_model", TO_FILL),
        "host_processors_per_node": str(sockets),
        "host_processor_core_count": str(s["cores"] // sockets) if s.get("cores") else TO_FILL,
        "host_memory_capacity": f"{memory / 2 ** 30:.0f} GB" if memory else TO_FILL,
        "host_storage_capacity": TO_FILL, "host_storage_type": TO_FILL,
        # A string: the official checker counts the number 0 as an empty answer.
        "accelerators_per_node": "0", "accelerator_model_name": NOT_APPLICABLE,
        "accelerator_memory_capacity": NOT_APPLICABLE,
        "framework": _framework(versions, run.record.get("providers", [])),
        "operating_system": f"{s['os']['name']} (kernel {s['os']['kernel']})" if s.get("os") else TO_FILL,
        "system_type": system_type or TO_FILL,
        "other_software_stack": ", ".join(f"{k} {v}" for k, v in versions.items()),
        "host_processor_frequency": TO_FILL, "host_processor_caches": TO_FILL,
        "host_memory_configuration": TO_FILL, "host_processor_interconnect": TO_FILL,
        "host_networking": TO_FILL if cluster else NO_NETWORK,
        "host_networking_topology": TO_FILL if cluster else NO_NETWORK,
        "accelerator_frequency": NOT_APPLICABLE, "accelerator_host_interconnect": NOT_APPLICABLE,
        "accelerator_interconnect": NOT_APPLICABLE, "accelerator_interconnect_topology": NOT_APPLICABLE,
        "accelerator_memory_configuration": NOT_APPLICABLE, "accelerator_on-chip_memories": NOT_APPLICABLE,
        "cooling": TO_FILL,
        "hw_notes": f"{s.get('topology', '')}; ISA: {' '.join(s.get('isa', [])) or 'baseline'}",
        "sw_notes": f"MLPerf Inference {round_} (the seeds of mlcommons-loadgen {versions.get('mlcommons-loadgen')}'s "
                    f"mlperf.conf); harness {run.record.get('harness_version')}, source in src/",
        "host_network_card_count": TO_FILL, "system_type_detail": TO_FILL,
    }
    described = {k: fields[k] for k in SYSTEM_FIELDS}
    return {**described, **_network(cluster, versions)} if cluster else described


def _network(cluster: dict, versions: dict) -> dict:
    """The network-mode fields: what the run knows (protocol, connections, software), the
    rest for the submitter."""
    ray = f"Ray {versions.get('ray', '')}".strip()
    loopback = cluster.get("interconnect") == "loopback"
    return {
        "is_network": "true", "network_type": "loopback (one host)" if loopback else TO_FILL,
        "network_media": TO_FILL, "network_rate": TO_FILL, "nic_loadgen": TO_FILL, "number_nic_loadgen": TO_FILL,
        "net_software_stack_loadgen": f"{ray} (gRPC over TCP/IP)", "network_protocol": "Ray remote calls (gRPC)",
        "number_connections": str(len(cluster["nodes"])), "nic_sut": TO_FILL, "number_nic_sut": TO_FILL,
        "net_software_stack_sut": f"{ray} (gRPC over TCP/IP)",
        "network_topology": f"LoadGen host and {len(cluster['nodes'])} SUT nodes ({cluster.get('interconnect')})",
    }


def _starting_weights(run: RunInfo) -> str:
    model = run.record["model"]
    if model.get("synthetic_weights"):
        return f"{model['name']}: the harness's embedded ResNet-50 v1.5 graph with synthetic (seeded random) weights"
    return model["path"].rsplit("/", 1)[-1]


def _weight_transformations(run: RunInfo, precision: str) -> str:
    quantization = run.record.get("quantization")
    if quantization:
        m = quantization.get("method", {})
        source = quantization.get("calibration_list") or "a seeded selection of the dataset"
        return (f"post-training static quantization with {m.get('tool', 'ONNX Runtime')} ({m.get('format')}; "
                f"weights {m.get('weights')}; activations {m.get('activations')}; {m.get('calibration')} "
                f"calibration on {quantization.get('calibration_images')} images from {source}); no retraining")
    if precision == "bf16":
        return "fp32 weights executed in bf16 by the execution provider; no retraining"
    return "none"


def measurements(run: RunInfo) -> dict:
    """The model, precision and quantization description the checker requires per scenario."""
    model = run.record["model"]
    # What the engine was shown to run (run.json `precision`), not only what was asked for.
    precision = (run.record.get("precision") or {}).get("reported") or run.config["precision"]
    return {
        "input_data_types": "fp32",  # preprocessed images are fed as float32 at every precision
        "retraining": "no",
        "starting_weights_filename": _starting_weights(run),
        "weight_data_types": precision,
        "weight_transformations": _weight_transformations(run, precision),
        "harness": {"model": model["name"], "model_sha256": model["sha256"],
                    "synthetic_weights": bool(model.get("synthetic_weights")), "precision": precision,
                    "execution_providers": run.record.get("providers", []),
                    "placement": run.record["placement"]["description"]},
    }


def command(run: RunInfo) -> str:
    """The harness command line that repeats the run's settings."""
    cfg = run.config
    args = ["harness", "--formal", "--scenario", cfg["scenario"], "--precision", cfg["precision"],
            "--model", cfg["model"]]
    for key in ("preset", "ep", "dataset", "count", "duration", "instances", "threads", "batch_size", "cpus"):
        if cfg.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", str(cfg[key])]
    for key, value in cfg.get("model_spec", {}).items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):
            args += [flag] if value else []
        else:
            args += [flag, ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    if cfg.get("quick"):
        args.append("--quick")
    return shlex.join(args)


def readme(run: RunInfo, system: str, round_: str) -> str:
    model = run.record["model"]
    lines = [f"# resnet50 {run.scenario} on {system}", "",
             f"MLPerf Inference {round_}. Measured with harness (an MLPerf-style ONNX Runtime CPU harness, "
             "source in src/ of this submitter) and MLCommons LoadGen.", "",
             "## Reproduce", "", "```", command(run), "```", "",
             f"- model: {model['name']} (sha256 {model['sha256']})",
             f"- precision: {run.config['precision']}; execution providers: "
             f"{', '.join(run.record.get('providers', []))}",
             f"- placement: {run.record['placement']['description']}",
             f"- calibrated target: {run.record.get('calibrated_target')} "
             f"({'ms' if run.scenario.latency_bound else 'samples/s'}), written to user.conf",
             f"- performance run: {run.run_id}"]
    lines += [f"- note: {n}" for n in run.record.get("notes", [])]
    return "\n".join(lines) + "\n"
