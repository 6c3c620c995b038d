"""--repeat N: independent runs of one configuration, their spread, and compare at run level."""

import contextlib
import io
import json
import math
import re
import statistics
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from harness.cli.main import main
from harness.cli.sweep import COMPLETED, plan_sweep, run_sweep
from harness.errors import ConfigError
from harness.results.format import latency, milliseconds, rate

from conftest import colour_args
from rundirs import single_stream_timeline, write_run


def run_main(*args) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*map(str, args)])
    return code, out.getvalue()


def records(directory: Path) -> list[dict]:
    return [json.loads((p / "run.json").read_text()) for p in sorted(directory.iterdir()) if (p / "run.json").is_file()]


def compare(capsys, *args) -> tuple[int, str, str]:
    code = main(["compare", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def groups(colour_model, colour_data, tmp_path_factory) -> dict:
    """Three SingleStream repeats into a/, two into b/, each printed output kept."""
    out = tmp_path_factory.mktemp("repeats")
    printed = {}
    for name, n in (("a", 3), ("b", 2)):
        code, printed[name] = run_main(*colour_args(colour_model, colour_data, out / name, "--scenario",
                                                    "SingleStream", "--duration", "0.3", "--repeat", n))
        assert code == 0
    return {"a": out / "a", "b": out / "b", "printed": printed}


def test_each_repeat_records_its_group_and_the_summary_gives_the_spread(groups):
    a, b = records(groups["a"]), records(groups["b"])
    assert len(a) == 3 and len(b) == 2
    assert [r["repeat"]["index"] for r in a] == [1, 2, 3] and {r["repeat"]["of"] for r in a} == {3}
    assert len({r["repeat"]["group"] for r in a}) == 1 and len({r["repeat"]["group"] for r in b}) == 1
    assert a[0]["repeat"]["group"] != b[0]["repeat"]["group"]
    assert all(r["status"] == "completed" for r in a + b)
    values = [r["result"]["value"] for r in a]
    assert all(r["result"]["metric"] == "p90_latency_ns" for r in a)
    median, low, high = statistics.median(values), min(values), max(values)
    expected = (f"p90 latency over 3 runs: median {latency(median, 4)}, min-max {latency(low, 4)} - "
                f"{latency(high, 4)}, relative spread {(high - low) / median * 100:.1f} %")
    printed = groups["printed"]["a"]
    assert f"repeats {a[0]['repeat']['group']}: 3 of 3 runs with a result" in printed
    assert f"  spread: {expected} ((max - min) / median)" in printed
    assert printed.count("run directory: ") == 3


def test_compare_of_two_groups_is_at_run_level_with_welchs_p(groups, capsys):
    a_values = [r["result"]["value"] for r in records(groups["a"])]
    b_values = [r["result"]["value"] for r in records(groups["b"])]
    expected = scipy_stats.ttest_ind(np.log(b_values), np.log(a_values), equal_var=False)
    code, out, _ = compare(capsys, groups["a"], groups["b"], "--json")
    result = json.loads(out)
    assert code == 0 and result["level"] == "run" and result["runs_needed"] is None
    level = result["run_level"]
    assert level["p_value"] == pytest.approx(expected.pvalue)
    assert level["t_statistic"] == pytest.approx(expected.statistic)
    assert level["a_values"] == a_values and level["b_values"] == b_values
    assert level["ratio"] == pytest.approx(math.exp(np.mean(np.log(b_values)) - np.mean(np.log(a_values))))
    assert level["significant"] == (expected.pvalue < 0.05)
    code, out, _ = compare(capsys, groups["a"], groups["b"])
    lines = out.strip().splitlines()
    assert lines[0].startswith(f"A: {groups['a']}: 3 runs (fp32 SingleStream")
    assert any(line.startswith("run level, p90 latency per run: ") and f"p = {expected.pvalue:.3g}" in line
               for line in lines)
    assert lines[-1].startswith("verdict: at run level (3 and 2 runs): ")


def test_compare_of_single_runs_says_it_is_within_one_run_and_needs_two_per_side(groups, capsys):
    a_run, b_run = sorted(p for p in groups["a"].iterdir())[0], sorted(p for p in groups["b"].iterdir())[0]
    code, out, _ = compare(capsys, a_run, b_run)
    assert code == 0 and out.strip().splitlines()[-1].startswith("verdict: ")
    assert "note: this verdict is within one run per side" in out
    assert "a run-level verdict needs at least 2 runs per side (harness run --repeat 2" in out
    result = json.loads(compare(capsys, a_run, b_run, "--json")[1])
    assert result["level"] == "within-run" and result["runs_needed"] == 2 and result["run_level"] is None


def test_a_group_against_one_run_says_how_many_runs_its_spread_needs(groups, capsys):
    b_run = sorted(p for p in groups["b"].iterdir())[0]
    a_values = [r["result"]["value"] for r in records(groups["a"])]
    b_value = json.loads((b_run / "run.json").read_text())["result"]["value"]
    result = json.loads(compare(capsys, groups["a"], b_run, "--json")[1])
    assert result["level"] == "within-run"
    median_run = sorted(records(groups["a"]), key=lambda r: r["result"]["value"])[1]["run_id"]
    assert f"A has 3 runs; the within-run test takes its median run {median_run}" in result["notes"]
    sd, effect = statistics.stdev(np.log(a_values)), abs(math.log(b_value / statistics.median(a_values)))
    needed = result["runs_needed"]
    if needed is None:  # the two landed so close that no practical number of runs tells them apart
        assert any("no practical number" in n or "by any number of runs" in n for n in result["notes"])
        return
    # A two-sample test at alpha 0.05 and power 0.8 needs at least the normal approximation's n,
    # and Student's t adds at most a few runs to it at these sizes.
    normal = 2 * ((scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)) * sd / effect) ** 2
    assert max(2, math.ceil(normal)) <= needed <= math.ceil(normal) + 3
    assert any(f"needs {needed} runs per side for Welch's t at alpha 0.05 with power 0.8 (--repeat {needed})" in n
               for n in result["notes"])


def test_hand_written_groups_without_repeat_fields_are_judged_at_run_level(tmp_path, capsys):
    # Run directories written before --repeat existed carry no `repeat`: a directory of them is
    # a group all the same. B's latencies are 20 % higher in each of three runs.
    rng = np.random.default_rng(0)
    for side, scale in (("a", 1.0), ("b", 1.2)):
        for k in range(3):
            latencies = scale * 1e6 * rng.lognormal(0, 0.02, 400) * (1 + 0.01 * k)
            write_run(tmp_path / side / f"run{k}", "SingleStream", single_stream_timeline(latencies.astype(np.int64)))
    code, out, _ = compare(capsys, tmp_path / "a", tmp_path / "b")
    verdict = out.strip().splitlines()[-1]
    assert code == 0 and verdict.startswith("verdict: at run level (3 and 3 runs): B is ")
    assert "% slower" in verdict and "the difference is real" in verdict
    assert "no --repeat record: runs made one by one" in out


def test_a_directory_of_different_configurations_is_refused_in_one_line(tmp_path, capsys):
    mixed = tmp_path / "mixed"
    write_run(mixed / "ss", "SingleStream", single_stream_timeline(np.full(100, 10**6)))
    write_run(mixed / "ss-int8", "SingleStream", single_stream_timeline(np.full(100, 10**6)), precision="int8")
    code, out, err = compare(capsys, mixed, mixed / "ss")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "holds runs of different configurations (precision: fp32 in ss, int8 in ss-int8)" in err


@pytest.mark.parametrize("args, words", [
    (("--repeat", "0"), "argument --repeat: expected a whole number of runs, 1 or more, got '0'"),
    (("--repeat", "2", "--mode", "accuracy"), "--repeat 2 with --mode accuracy"),
])
def test_bad_repeats_are_one_line(args, words, tmp_path, capsys):
    try:
        code = main(["--quick", "--output-dir", str(tmp_path), *args])
    except SystemExit as exc:  # argparse's own usage errors exit
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and words in err
    assert not any(tmp_path.iterdir())


def test_a_repeated_sweep_records_groups_and_its_report_shows_the_spread(colour_model, colour_data, tmp_path):
    code, printed = run_main("sweep", *colour_args(colour_model, colour_data, tmp_path, "--ep", "cpu"),
                             "--precisions", "fp32", "--scenarios", "Offline,SingleStream", "--repeat", "2")
    assert code == 0
    (sweep_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert sweep["repeat"] == 2
    # Repeat 1 of every cell before repeat 2 of any.
    assert [(e["scenario"], e["repeat"], e["status"]) for e in sweep["runs"]] == [
        ("Offline", 1, "completed"), ("SingleStream", 1, "completed"),
        ("Offline", 2, "completed"), ("SingleStream", 2, "completed")]
    report = (sweep_dir / "report.md").read_text()
    assert "Run-to-run spread" in report
    for scenario, show in (("Offline", rate), ("SingleStream", milliseconds)):
        runs = [json.loads((sweep_dir / e["run_dir"] / "run.json").read_text())
                for e in sweep["runs"] if e["scenario"] == scenario]
        assert [r["repeat"] for r in runs] == [{"group": f"{sweep_dir.name}-fp32-{scenario}", "index": k, "of": 2}
                                                for k in (1, 2)]
        values = [r["result"]["value"] for r in runs]
        median, low, high = statistics.median(values), min(values), max(values)
        batch = runs[0]["placement"]["instances"][0]["batch_size"]
        row = (f"| FP32 · {scenario} · batch {batch} | 2 of 2 | "
               f"{'p90 ms' if scenario == 'SingleStream' else 'samples/s'} | {show(median)} | {show(low)} – "
               f"{show(high)} | {(high - low) / median * 100:.1f} % |")
        assert row in report
        assert re.search(rf"fp32 {scenario} \(batch {batch}\), 2 of 2 repeats completed: .* over 2 runs: median",
                         printed)


def test_a_cell_skipped_in_one_repeat_is_not_tried_again_in_the_next(tmp_path):
    calls = []

    def fake_run(cfg):
        calls.append(cfg.precision)
        if cfg.precision == "bf16":
            raise ConfigError("--precision bf16 needs the OpenVINO EP")
        run_dir = Path(cfg.output_dir) / f"run-{len(calls)}"
        run_dir.mkdir()
        return {"run_id": run_dir.name, "config": cfg.to_json(), "model": {"name": "m"},
                "placement": {"description": "p"}, "result": {"metric": "samples_per_second", "value": 1.0}}

    sweep = plan_sweep(None, {"output_dir": str(tmp_path), "quick": True}, ("fp32", "bf16"), ("Offline",), 2)
    sweep = run_sweep(sweep, fake_run, echo=lambda _: None)
    assert calls == ["fp32", "bf16", "fp32"]
    assert [(e.precision, e.repeat, e.status) for e in sweep.entries] == [
        ("fp32", 1, COMPLETED), ("bf16", 1, "skipped: --precision bf16 needs the OpenVINO EP"),
        ("fp32", 2, COMPLETED), ("bf16", 2, "skipped: --precision bf16 needs the OpenVINO EP")]
    tagged = [json.loads((sweep.path / e.run_dir / "run.json").read_text())["repeat"]
              for e in sweep.entries if e.status == COMPLETED]
    assert tagged == [{"group": f"{sweep.path.name}-fp32-Offline", "index": k, "of": 2} for k in (1, 2)]
