"""A run's status as readers tell it: a run killed by SIGKILL is "abandoned", not running for
ever, and a report of a plain directory of runs headlines the runs that completed."""

import json
import os
import subprocess
import sys
from pathlib import Path

from harness.cli.main import main
from harness.report.write import write_report
from harness.results.runjson import RunRecord, read_run_json, this_process

from rundirs import offline_timeline, single_stream_timeline, write_run

CONFIG = {"scenario": "Offline", "precision": "fp32", "mode": "performance", "model": "resnet50"}

# A harness process as SIGKILL leaves it: run.json written, then nothing more.
KILLED_RUN = """
import sys, time
from pathlib import Path
from harness.results.runjson import RunRecord
RunRecord.create(Path(sys.argv[1]), status="running",
                 config={"scenario": "Offline", "precision": "fp32", "mode": "performance", "model": "resnet50"})
print("written", flush=True)
time.sleep(600)
"""


def killed_run(run_dir: Path) -> int:
    """run_dir/run.json written by a process that SIGKILL then ended; that process's pid."""
    run_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "written\n"
    proc.kill()
    proc.wait()
    return proc.pid


def ended_process() -> dict:
    """this_process() of a process that has since ended."""
    code = "import json; from harness.results.runjson import this_process; print(json.dumps(this_process()))"
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


def set_status(run: Path, status: str, **fields) -> Path:
    record = json.loads((run / "run.json").read_text())
    record.pop("result", None)
    record.update(status=status, **fields)
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_a_run_records_its_process_and_reads_as_running_while_it_lives(tmp_path):
    RunRecord.create(tmp_path, status="running", config=CONFIG)
    process = json.loads((tmp_path / "run.json").read_text())["process"]
    ticks = int(Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19])
    assert process["pid"] == os.getpid() and process["start_ticks"] == ticks
    assert read_run_json(tmp_path)["status"] == "running"


def test_a_run_killed_by_sigkill_reads_as_abandoned(tmp_path):
    pid = killed_run(tmp_path)
    on_disk = (tmp_path / "run.json").read_text()
    record = read_run_json(tmp_path)
    assert record["status"] == "abandoned" and record["abandoned_while"] == "running"
    assert record["failure"].startswith(f"its process {pid} on ")
    assert "ended while the run was running, without recording why (killed by SIGKILL" in record["failure"]
    assert (tmp_path / "run.json").read_text() == on_disk  # a reader never rewrites it


def test_a_pid_now_held_by_another_process_is_not_the_run(tmp_path):
    # The run's pid was reused: it runs, but it started at another time than the run's process.
    process = {**this_process(), "start_ticks": this_process()["start_ticks"] - 1}
    (tmp_path / "run.json").write_text(json.dumps({"status": "preparing", "config": CONFIG, "process": process}))
    assert read_run_json(tmp_path)["status"] == "abandoned"


def test_a_run_of_another_host_or_an_old_harness_keeps_its_status(tmp_path):
    for process in ({**this_process(), "pid": 2**22 + 1, "host": "elsewhere"}, None):
        (tmp_path / "run.json").write_text(json.dumps({"status": "running", "config": CONFIG, "process": process}))
        assert read_run_json(tmp_path)["status"] == "running"


def test_report_of_a_runs_directory_headlines_its_valid_runs(tmp_path):
    # Two VALID Offline runs, two stopped by SIGINT (one of them first in name order), one killed.
    timeline = offline_timeline(10_000_000, 200, 100)
    set_status(write_run(tmp_path / "1-stopped", "Offline", timeline), "FAILED", failure="interrupted by SIGINT")
    write_run(tmp_path / "2-valid", "Offline", timeline)
    set_status(write_run(tmp_path / "3-stopped", "Offline", timeline), "FAILED", failure="interrupted by SIGINT")
    write_run(tmp_path / "4-valid", "Offline", offline_timeline(8_000_000, 200, 100))
    ended = ended_process()
    set_status(write_run(tmp_path / "5-killed", "Offline", timeline), "running", process=ended)

    paths = write_report(tmp_path)
    md, html = paths.markdown.read_text(), paths.html.read_text()
    assert "| FP32 | 12,500 | 100 |" in md  # the newest VALID run, not a stopped one
    assert '<span class="value">12,500</span>' in html and '<span class="value">FAILED</span>' not in html
    assert "> **fp32 Offline: 5 performance runs.** 2 completed; the headline shows 4-valid, the newest" in md
    assert "> **fp32 Offline (1-stopped) failed.** interrupted by SIGINT" in md
    assert (f"> **fp32 Offline (5-killed) abandoned.** its process {ended['pid']} on {ended['host']} ended while "
            "the run was running, without recording why") in md
    assert "resume" not in md


def test_report_of_a_live_run_says_it_is_still_running(tmp_path):
    run = set_status(write_run(tmp_path / "live", "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4))),
                     "running", process=this_process())
    md = write_report(run).markdown.read_text()
    assert (f"> **fp32 SingleStream (live) running.** still running (process {os.getpid()} on "
            f"{this_process()['host']}): no result yet; report again once it has finished") in md
    assert "resume" not in md


def test_compare_tells_an_abandoned_run_from_a_live_one(tmp_path, capsys):
    done = write_run(tmp_path / "done", "Offline", offline_timeline(10_000_000, 200, 100))
    killed = tmp_path / "killed"
    pid = killed_run(killed)
    assert main(["compare", str(done), str(killed)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"harness: error: {killed} was abandoned: its process {pid} on ")
    live = set_status(write_run(tmp_path / "live", "Offline", offline_timeline(10_000_000, 200, 100)), "running",
                      process=this_process())
    assert main(["compare", str(done), str(live)]) == 2
    assert capsys.readouterr().err == (f"harness: error: {live} is still running (process {os.getpid()} on "
                                       f"{this_process()['host']}); compare it once it has finished\n")
