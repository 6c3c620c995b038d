"""`harness compare`: faster or slower, whether it is real, and refusing apples to oranges."""

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cli.main import main

from conftest import colour_args
from rundirs import offline_timeline, single_stream_timeline, write_run


def lognormal_latencies(median_ns: float, n: int = 2000, seed: int = 0) -> np.ndarray:
    return (median_ns * np.random.default_rng(seed).lognormal(0, 0.25, n)).astype(np.int64)


def jittered_offline(rate: float, seconds: float, batch: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gaps = rng.normal(batch / rate, 0.1 * batch / rate, int(rate * seconds / batch)).clip(min=1e-4)
    complete = (10**9 + np.cumsum(gaps) * 1e9).astype(np.int64)
    return np.stack([np.full(complete.size, 10**9), complete, np.full(complete.size, batch)], axis=1)


def compare(capsys, *args) -> tuple[int, str, str]:
    code = main(["compare", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def two_real_runs(colour_model, colour_data, tmp_path_factory) -> list[Path]:
    out = tmp_path_factory.mktemp("real")
    for _ in range(2):
        assert main(colour_args(colour_model, colour_data, out, "--scenario", "SingleStream", "--duration", "0.3")) == 0
    return sorted(p for p in out.iterdir() if p.is_dir())


def test_two_real_runs(two_real_runs, capsys):
    a, b = two_real_runs
    code, out, _ = compare(capsys, a, b)
    assert code == 0
    assert "p90 latency: A" in out and "median latency: A" in out and "rank-biserial r" in out
    assert out.strip().splitlines()[-1].startswith("verdict: ")
    assert "A is not a compliant-length run" in out
    code, out, _ = compare(capsys, a, b, "--json")
    result = json.loads(out)
    assert [c["statistic"] for c in result["comparisons"]] == ["p90 latency", "median latency"]
    p90 = result["comparisons"][0]
    assert p90["n_a"] == len(np.load(a / "latencies.npy")) and p90["n_b"] == len(np.load(b / "latencies.npy"))
    # How large the effect is depends on the two runs' timing; what it is called follows from r.
    for c in result["comparisons"]:
        assert c["effect"] == effect_size(c["rank_biserial"])


def effect_size(rank_biserial: float) -> str:
    """The conventional names: |r| below 0.1 negligible, below 0.3 small, below 0.5 medium, else large."""
    size = abs(rank_biserial)
    return "negligible" if size < 0.1 else "small" if size < 0.3 else "medium" if size < 0.5 else "large"


def test_a_run_against_itself_is_no_difference(two_real_runs, capsys):
    run = two_real_runs[0]
    _, out, _ = compare(capsys, run, run)
    assert "verdict: no significant difference (p = 1" in out
    assert out.count("0.00 (negligible effect)") == 2  # p90 and median: r = 0
    p90 = json.loads(compare(capsys, run, run, "--json")[1])["comparisons"][0]
    assert (p90["rank_biserial"], p90["effect"], p90["ratio"]) == (0.0, "negligible", 1.0)


def test_shifted_latencies_are_slower_then_faster(tmp_path, capsys):
    base = lognormal_latencies(1e6)
    a = write_run(tmp_path / "a", "SingleStream", single_stream_timeline(base))
    b = write_run(tmp_path / "b", "SingleStream", single_stream_timeline(lognormal_latencies(1.2e6, seed=1)))
    _, out, _ = compare(capsys, a, b)
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("verdict: B is") and "% slower" in verdict and "the difference is real" in verdict
    # log-latencies N(0, 0.25²) shifted by ln 1.2: P(B lower) = Φ(-ln 1.2 / (0.25 √2)) = 0.30, r = -0.39.
    assert "medium effect" in out
    _, out, _ = compare(capsys, b, a)
    assert "% faster" in out.strip().splitlines()[-1]
    slower = json.loads(compare(capsys, a, b, "--json")[1])["comparisons"][0]
    assert slower["effect"] == "medium" == effect_size(slower["rank_biserial"])
    assert slower["ratio"] == pytest.approx(1.2, rel=0.05) and slower["ratio_ci_low"] > 1
    assert slower["prob_b_better"] == pytest.approx(0.30, abs=0.03)


def test_offline_throughput_faster(tmp_path, capsys):
    a = write_run(tmp_path / "a", "Offline", jittered_offline(10_000, 5, 100, seed=0))
    b = write_run(tmp_path / "b", "Offline", jittered_offline(12_000, 5, 100, seed=1), precision="int8",
                  sha256="cd" * 32)
    _, out, _ = compare(capsys, a, b)
    assert "mean throughput: A" in out and "differs in precision: fp32 -> int8" in out
    assert "LoadGen's throughput" in out
    verdict = out.strip().splitlines()[-1]
    assert "% faster" in verdict and "the difference is real" in verdict
    result = json.loads(compare(capsys, a, b, "--json")[1])["comparisons"][0]
    assert result["ratio"] == pytest.approx(1.2, rel=0.05)


def test_refuses_other_scenarios_and_models_unless_forced(tmp_path, capsys):
    single = write_run(tmp_path / "ss", "SingleStream", single_stream_timeline(lognormal_latencies(1e6)))
    offline = write_run(tmp_path / "off", "Offline", offline_timeline(10_000_000, 200, 100))
    other_model = write_run(tmp_path / "other", "Offline", offline_timeline(10_000_000, 200, 100), model="x.onnx")
    changed = write_run(tmp_path / "changed", "Offline", offline_timeline(10_000_000, 200, 100), sha256="ef" * 32)
    for b, words in ((single, "A is Offline and B is SingleStream"), (other_model, "B ran x.onnx"),
                     (changed, "changed between the runs")):
        code, out, err = compare(capsys, offline, b)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert words in err and "--force" in err
    code, out, _ = compare(capsys, offline, single, "--force")
    assert code == 0 and "only throughput is compared" in out


def test_not_a_run_directory_is_one_line(tmp_path, capsys):
    code, _, err = compare(capsys, tmp_path, tmp_path)
    assert code == 2 and err.count("\n") == 1 and "no run.json" in err


def test_offline_runs_of_a_few_big_batches_cannot_be_tested(tmp_path, capsys):
    # A quick ResNet-50 Offline run on 2 cores: a handful of batches of 116 in ~5 s.
    a = write_run(tmp_path / "a", "Offline", offline_timeline(2 * 10**9, 3, 116))
    b = write_run(tmp_path / "b", "Offline", offline_timeline(10**9, 6, 116))
    code, out, _ = compare(capsys, a, b)
    assert code == 0 and "LoadGen's throughput: A 58.0 samples/s, B 116.0 samples/s (B/A 2.000)" in out
    assert out.strip().splitlines()[-1] == ("verdict: no test possible: too few completions to bin throughput over "
                                            "time in A (3 batches) and B (6 batches); a longer --duration or a "
                                            "smaller --batch-size gives enough")


def test_too_few_bins_for_the_test_is_inconclusive_not_no_difference(tmp_path, capsys):
    # Short quick runs of batch 16, binned at 5 s: two or three steady bins each, so few that
    # even B above A in every bin leaves Mann-Whitney's p above 0.05 (2 / C(4, 2) = 0.33).
    a = write_run(tmp_path / "a", "Offline", jittered_offline(32, 16.0, 16, seed=0))
    b = write_run(tmp_path / "b", "Offline", jittered_offline(86, 11.0, 16, seed=1))
    _, out, _ = compare(capsys, a, b)
    verdict = out.strip().splitlines()[-1]
    assert verdict.startswith("verdict: inconclusive: ") and "too few for Mann-Whitney to reach p < 0.05" in verdict
