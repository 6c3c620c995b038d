"""run.json: one writer with a schema, and run directories of older harness versions still read
by report, compare and audit. The old directories are made by the current code, then
rewritten as the harness before the schema field wrote them."""

import json
import shutil
from pathlib import Path

import pytest

from audit.runner import run_compliance
from audit.runs import read_run as audit_read_run
from audit.verify import setting_differences
from harness.cli.main import main
from harness.errors import HarnessError
from harness.results.runjson import HARNESS_SUT, SCHEMA, read_run_json
from harness.results.runview import read_run

from conftest import colour_args


def as_schema_1(run: Path) -> Path:
    """run.json as the harness wrote it before packages: no schema field, the SUT as harness.sut:SUT."""
    record = json.loads((run / "run.json").read_text())
    del record["schema"]
    record["sut_class"] = "harness.sut:SUT"
    (run / "run.json").write_text(json.dumps(record, indent=2))
    return run


@pytest.fixture(scope="module")
def new_and_old(colour_model, colour_data, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("runjson")
    args = colour_args(colour_model, colour_data, out, "--scenario", "SingleStream", "--duration", "0.3")
    assert main(args) == 0 and main(args) == 0
    new, old = sorted(p for p in out.iterdir() if p.is_dir())
    return new, as_schema_1(old)


def test_the_runner_writes_the_current_schema_and_names_its_sut(new_and_old):
    new, _ = new_and_old
    record = json.loads((new / "run.json").read_text())
    assert record["schema"] == SCHEMA == 2 and record["sut_class"] == HARNESS_SUT == "harness.loadgen.sut:SUT"
    assert record["status"] == "completed" and record["result"]["validity"] == "VALID"


def test_an_old_run_json_is_read_in_the_current_schema_and_left_as_it_is(new_and_old):
    _, old = new_and_old
    before = (old / "run.json").read_text()
    record = read_run_json(old)
    assert record["schema"] == SCHEMA and record["sut_class"] == HARNESS_SUT
    assert (old / "run.json").read_text() == before
    assert read_run(old).scenario == "SingleStream"


def test_report_and_compare_take_an_old_run_beside_a_new_one(new_and_old, tmp_path, capsys):
    new, old = new_and_old
    runs = tmp_path / "runs"
    for run in (new, old):
        shutil.copytree(run, runs / run.name)
    assert main(["report", str(runs)]) == 0
    markdown = (runs / "report.md").read_text()
    assert new.name in markdown and old.name in markdown
    capsys.readouterr()
    assert main(["compare", str(old), str(new)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("verdict: ")


def test_an_audit_of_an_old_run_repeats_the_harness_sut(new_and_old, tmp_path):
    _, old = new_and_old
    audited = audit_read_run(old)
    test04 = run_compliance("TEST04", audited, tmp_path, echo=lambda *_: None)
    assert test04.record["sut_class"] == HARNESS_SUT
    assert not [d for d in setting_differences(audited, test04) if "SUT class" in d]


@pytest.mark.parametrize("content, says", [
    ("[1, 2]", "is not a run's record"),
    ('{"status": "completed"}', "is not a run's record"),
    ('{"schema": 99, "config": {}}', "has schema 99, newer than this harness reads"),
    ("{", "is not valid JSON"),
])
def test_a_run_json_that_is_not_a_runs_record_is_one_line(tmp_path, content, says):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(HarnessError, match=says):
        read_run_json(tmp_path)
