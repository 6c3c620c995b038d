"""`harness sweep`: the grid of runs, skipped precisions recorded, resumable."""

import json
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.cli.sweep import COMPLETED, PENDING, load_sweep, plan_sweep, run_sweep
from harness.errors import ConfigError, RunFailed, RunInterrupted


def sweep_json(sweep_dir: Path) -> dict:
    return json.loads((sweep_dir / "sweep.json").read_text())


def test_quick_sweep_runs_fp32_and_skips_bf16_with_its_reason(quick_sweep):
    data = sweep_json(quick_sweep)
    assert data["quick"] is True and data["compliant_length"] is False
    cells = {(r["precision"], r["scenario"]): r for r in data["runs"]}
    assert list(cells) == [("fp32", "Offline"), ("fp32", "SingleStream"), ("bf16", "Offline"),
                           ("bf16", "SingleStream")]
    assert cells["fp32", "Offline"]["batch_size"] == 116 and cells["bf16", "Offline"]["batch_size"] == 80
    assert cells["fp32", "SingleStream"]["batch_size"] == 1
    for scenario in ("Offline", "SingleStream"):
        fp32 = cells["fp32", scenario]
        assert fp32["status"] == COMPLETED
        record = json.loads((quick_sweep / fp32["run_dir"] / "run.json").read_text())
        assert record["config"]["scenario"] == scenario and record["result"]["validity"] == "VALID"
        assert (quick_sweep / fp32["run_dir"] / "stats.json").is_file()
        bf16 = cells["bf16", scenario]["status"]
        assert bf16.startswith("skipped: ") and "bf16" in bf16 and "cpu" in bf16
    assert (quick_sweep / "report.html").is_file() and (quick_sweep / "report.md").is_file()
    assert "skipped" in (quick_sweep / "report.md").read_text()


def test_resume_skips_completed_runs(quick_sweep, capsys):
    before = sweep_json(quick_sweep)
    assert main(["sweep", "--resume", str(quick_sweep), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "2 completed run(s) kept" in out
    assert "[1/2] bf16 Offline" in out and "[2/2] bf16 SingleStream" in out and "fp32 Offline (batch 116)\n" not in out
    after = sweep_json(quick_sweep)
    for old, new in zip(before["runs"], after["runs"]):
        if old["status"] == COMPLETED:
            assert new == old


def planned(tmp_path: Path):
    return plan_sweep(None, {"output_dir": str(tmp_path), "quick": True}, ("fp32", "bf16", "int8"),
                      ("Offline", "SingleStream"))


def record_of(cfg, run_id: str) -> dict:
    """What run_benchmark returns, as far as the sweep reads it."""
    return {"run_id": run_id, "config": cfg.to_json(), "model": {"name": "m"}, "placement": {"description": "p"},
            "result": {"metric": "samples_per_second", "value": 1.0}}


def test_statuses_and_interruption_are_recorded(tmp_path):
    calls = []

    def fake_run(cfg):
        calls.append((cfg.precision, cfg.scenario))
        run_dir = Path(cfg.output_dir) / f"run-{len(calls)}"
        run_dir.mkdir()
        if cfg.precision == "bf16":
            raise ConfigError("--precision bf16 needs the OpenVINO EP")
        if cfg.precision == "int8" and cfg.scenario == "Offline":
            raise RunFailed("run FAILED: worker died; logs kept in x")
        if cfg.precision == "int8":
            raise RunInterrupted("run FAILED: interrupted by SIGINT; logs kept in y", 2)
        return record_of(cfg, run_dir.name)

    sweep = planned(tmp_path)
    assert [e.batch_size for e in sweep.entries] == [116, 1, 80, 1, 116, 1]
    with pytest.raises(RunInterrupted):
        run_sweep(sweep, fake_run, echo=lambda _: None)
    saved = load_sweep(sweep.path)
    statuses = [e.status for e in saved.entries]
    assert statuses[:2] == [COMPLETED, COMPLETED]
    assert statuses[2] == statuses[3] == "skipped: --precision bf16 needs the OpenVINO EP"
    assert statuses[4] == "failed: run FAILED: worker died; logs kept in x"
    assert saved.entries[4].run_dir == "run-5"
    assert statuses[5] == PENDING  # interrupted: not done, run again on resume

    calls.clear()
    def run_again(cfg):
        calls.append((cfg.precision, cfg.scenario))
        return record_of(cfg, "again")

    run_sweep(saved, run_again, echo=lambda _: None)
    assert calls == [("bf16", "Offline"), ("bf16", "SingleStream"), ("int8", "Offline"), ("int8", "SingleStream")]
    assert all(e.status == COMPLETED for e in load_sweep(sweep.path).entries)


@pytest.mark.parametrize("args, words", [
    (["--scenario", "Offline"], "use --precisions and --scenarios"),
    (["--precisions", "fp64"], "'fp64' is not one of fp32, bf16, int8"),
    (["--scenarios", "Batch"], "'Batch' is not one of Offline, SingleStream, MultiStream, Server"),
    (["--resume", ".", "--quick"], "--resume continues a sweep with its own settings"),
])
def test_option_mistakes_are_one_line(args, words, capsys, tmp_path):
    assert main(["sweep", "--output-dir", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())  # nothing was created
