"""The system disclosure read from a made-up /proc, /etc and /sys: a server this machine is not."""

from pathlib import Path

from harness.cpu.sysinfo import cpu_info, memory_bytes, os_info, system_info
from harness.cpu.topology import read_topology

from sysfs_trees import make_tree

# Two CPUs of /proc/cpuinfo as x86 Linux writes it (abridged): the flags of a Sapphire Rapids part.
XEON_CPUINFO = "".join(
    f"processor\t: {cpu}\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "flags\t\t: fpu vme sse sse2 avx avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 "
    "amx_bf16 amx_tile amx_int8 avx512_fp16\n\n" for cpu in range(2))
# aarch64 lists "Features" and no model name.
ARM_CPUINFO = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n\n"


def fake_root(tmp_path: Path, cpuinfo: str) -> Path:
    root = make_tree(tmp_path, sockets=2, cores_per_socket=4, smt=2)
    (root / "proc").mkdir(exist_ok=True)
    (root / "proc/cpuinfo").write_text(cpuinfo)
    (root / "proc/meminfo").write_text("MemTotal:       263867392 kB\nMemFree:        250000000 kB\n"
                                       "MemAvailable:   255000000 kB\n")
    (root / "etc").mkdir()
    (root / "etc/os-release").write_text('NAME="Test Linux"\nPRETTY_NAME="Test Linux 12 (bookworm)"\nID=test\n')
    return root


def test_cpu_model_and_isa_flags_in_the_harness_order(tmp_path):
    info = cpu_info(fake_root(tmp_path, XEON_CPUINFO))
    assert info == {"model": "Intel(R) Xeon(R) Platinum 8480+",
                    "isa": ["avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                            "amx_tile", "amx_bf16", "amx_int8"]}


def test_arm_features_and_a_missing_cpuinfo(tmp_path):
    assert cpu_info(fake_root(tmp_path / "arm", ARM_CPUINFO))["isa"] == []
    assert cpu_info(tmp_path / "nothing")["isa"] == []


def test_memory_and_os(tmp_path):
    root = fake_root(tmp_path, XEON_CPUINFO)
    assert memory_bytes(root) == 263867392 * 1024
    assert memory_bytes(tmp_path / "nothing") is None
    assert os_info(root)["name"] == "Test Linux 12 (bookworm)"


def test_system_info_of_a_two_socket_server(tmp_path):
    root = fake_root(tmp_path, XEON_CPUINFO)
    system = system_info(read_topology(root), root)
    assert (system["cpu_model"], system["sockets"], system["cores"], system["threads"]) == (
        "Intel(R) Xeon(R) Platinum 8480+", 2, 8, 16)
    assert "amx_bf16" in system["isa"] and "avx512_bf16" in system["isa"]
    assert system["numa_nodes"] == [{"id": 0, "cpus": [0, 1, 2, 3, 8, 9, 10, 11]},
                                    {"id": 1, "cpus": [4, 5, 6, 7, 12, 13, 14, 15]}]
    assert system["allowed_cpus"] == list(range(16))
    assert system["topology"] == "2 sockets, 2 NUMA nodes, 8 cores, 16 threads"
    assert system["memory_bytes"] == 263867392 * 1024 and system["os"]["name"] == "Test Linux 12 (bookworm)"
