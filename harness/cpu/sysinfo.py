"""What machine and software produced a result: the system disclosure of every run."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

from harness.config.profiles import Machine
from harness.cpu.topology import Topology, read_topology

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
             "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "amx_fp16")
PACKAGES = ("onnxruntime-openvino", "onnxruntime", "mlcommons-loadgen", "numpy", "scipy", "onnx",
            "Pillow", "Cython", "ray")


def this_machine() -> Machine:
    """The identity a system profile is kept under: CPU model, physical cores, instruction sets."""
    info = cpu_info()
    return Machine(info["model"], len(read_topology().cores), tuple(info["isa"]))


def cpu_info(root: Path = Path("/")) -> dict:
    model, flags = platform.processor() or "unknown", set()
    try:
        text = (root / "proc/cpuinfo").read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        elif key.strip() in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model, "isa": [f for f in ISA_FLAGS if f in flags]}


def memory_bytes(root: Path = Path("/"), field: str = "MemTotal") -> int | None:
    """/proc/meminfo's `field` (MemTotal, MemAvailable, ...) in bytes."""
    try:
        for line in (root / "proc/meminfo").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def versions() -> dict:
    found = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def os_info(root: Path = Path("/")) -> dict:
    try:
        release = dict(line.split("=", 1) for line in (root / "etc/os-release").read_text().splitlines()
                       if "=" in line)
        name = release.get("PRETTY_NAME", "").strip('"')
    except OSError:
        name = platform.system()
    return {"name": name, "kernel": platform.release(), "machine": platform.machine()}


def system_info(topology: Topology, root: Path = Path("/")) -> dict:
    """`root`: where proc/ and etc/ are read from (tests give a made-up one)."""
    cpu = cpu_info(root)
    sockets = len({c.package for c in topology.cores})
    return {
        "cpu_model": cpu["model"],
        "isa": cpu["isa"],
        "sockets": sockets,
        "cores": len(topology.cores),
        "threads": len(topology.online),
        "numa_nodes": [{"id": n.id, "cpus": sorted(n.cpus)} for n in topology.nodes],
        "allowed_cpus": sorted(topology.allowed),
        "topology": topology.describe(),
        "memory_bytes": memory_bytes(root),
        "os": os_info(root),
        "hostname": platform.node(),
        "versions": versions(),
        "pid": os.getpid(),
    }
