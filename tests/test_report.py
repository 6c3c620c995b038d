"""`harness report`: every figure, every disclosure field, and a page Chromium renders cleanly."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.report.write import write_report
from harness.terms import SYNTHETIC_WEIGHTS_NOTE

from rundirs import offline_timeline, single_stream_timeline, write_run

ARTIFACTS = Path(__file__).parent / "artifacts"  # screenshots kept for people to look at; git ignores them
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
DISCLOSURE_FIELDS = ("CPU model", "Sockets", "Cores", "Threads", "Memory", "NUMA layout", "OS", "Kernel",
                     "ISA flags", "Software versions", "Model", "Model hash (sha256)", "Weights",
                     "Precision requested", "Precision proof (engine-reported)", "Execution provider",
                     "Instance layout", "Instances", "LoadGen settings", "Samples", "Result", "Length")
FIGURES = ("Figure 1. Throughput by precision (Offline)", "Figure 2. Batch-1 p90 latency by precision (SingleStream)",
           "Figure 3.1. FP32 · Offline · batch 116", "Figure 3.2. FP32 · SingleStream · batch 1")


@pytest.fixture(scope="module")
def report(quick_sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(quick_sweep), "--output", str(out)]) == 0
    return out


def runs_of(quick_sweep: Path) -> list[dict]:
    sweep = json.loads((quick_sweep / "sweep.json").read_text())
    return [json.loads((quick_sweep / r["run_dir"] / "run.json").read_text())
            for r in sweep["runs"] if r["status"] == "completed"]


def images(html: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)]


def test_html_is_self_contained_with_every_figure(report):
    html = (report / "report.html").read_text()
    pngs = images(html)
    assert len(pngs) == len(FIGURES) and all(p.startswith(PNG_MAGIC) for p in pngs)
    for title in FIGURES:
        assert title in html
    assert "Latency histogram and CDF" in html and "samples per second over the run" in html
    # Nothing fetched from elsewhere: no external src/href, no CSS url(), no script.
    assert not re.findall(r'(?:src|href)="(?!data:image/png;base64,|#)', html)
    assert "url(" not in html and "<script" not in html and "<link" not in html


def test_every_disclosure_field_is_there(report, quick_sweep):
    html, md = (report / "report.html").read_text(), (report / "report.md").read_text()
    for text in (html, md):
        for field in DISCLOSURE_FIELDS:
            assert f"{field}<" in text or f"| {field} |" in text, field
    for record in runs_of(quick_sweep):
        system = record["system"]
        for value in (system["cpu_model"], system["os"]["kernel"], system["os"]["name"], record["model"]["sha256"],
                      record["placement"]["description"], record["run_id"], *system["isa"],
                      system["versions"]["mlcommons-loadgen"], str(record["result"]["seeds"]["qsl_rng_seed"])):
            assert value in html and value in md, value
        assert record["precision"]["reported"] == "fp32"
    for text in ("matches request", "VALID", "NOT COMPLIANT (quick)", "trained (as supplied)",
                 "bf16 Offline skipped", "cannot run on --ep cpu"):
        assert text in html and text in md, text
    assert SYNTHETIC_WEIGHTS_NOTE not in html.lower()  # the tiny model's weights are real: no such note


def test_headline_table_is_the_studys(report, quick_sweep):
    md = (report / "report.md").read_text()
    header = "| Precision | Offline images/s | Offline batch | SingleStream p90 (ms) | Early-stopping p90 (ms) | Status |"
    assert header in md
    runs = {r["config"]["scenario"]: r for r in runs_of(quick_sweep)}
    row = next(line for line in md.splitlines() if line.startswith("| FP32 | ") and "116" in line)
    assert f"{runs['Offline']['result']['value']:,.0f}" in row
    assert f"{runs['SingleStream']['result']['value'] / 1e6:.3g}" in row
    assert "| BF16 | **SKIPPED** | 80 |" in md


def test_markdown_figures_are_files(report):
    md = (report / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", md)
    assert len(linked) == len(FIGURES)
    for path in linked:
        assert (report / path).read_bytes().startswith(PNG_MAGIC)


def test_synthetic_weights_and_a_single_run(tmp_path):
    run = write_run(tmp_path / "run", "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4)))
    paths = write_report(run)
    html = paths.html.read_text()
    assert SYNTHETIC_WEIGHTS_NOTE in html.lower() and "synthetic weights" in paths.markdown.read_text()
    assert len(images(html)) == 3  # the two study figures and the run's own
    assert "no completed run in this scenario" not in html  # that is inside the PNG, not the page


def test_a_directory_of_runs(tmp_path):
    write_run(tmp_path / "a", "Offline", offline_timeline(10_000_000, 200, 100))
    write_run(tmp_path / "b", "Offline", offline_timeline(5_000_000, 200, 100), precision="int8")
    md = write_report(tmp_path).markdown.read_text()
    assert "| FP32 | 10,000 |" in md and "| INT8 | 20,000 |" in md


def test_a_formal_runs_directory_headlines_its_performance_run(tmp_path):
    # As `harness --formal` leaves it: performance, accuracy, then the compliance runs.
    write_run(tmp_path / "1-perf", "Offline", offline_timeline(10_000_000, 200, 100), quick=False)
    write_run(tmp_path / "2-acc", "Offline", offline_timeline(10_000_000, 20, 100), quick=False, mode="accuracy")
    write_run(tmp_path / "3-test01", "Offline", offline_timeline(8_000_000, 200, 100), quick=False,
              audit_test="TEST01")
    md = write_report(tmp_path).markdown.read_text()
    assert "| FP32 | 10,000 |" in md  # not TEST01's 12,500
    assert "INVALID" not in md  # an accuracy run has no LoadGen verdict to fail
    assert "### FP32 · Offline · batch 100 · accuracy\n\n**ACCURACY RUN** **COMPLIANT LENGTH** 2-acc" in md
    assert "### FP32 · Offline · batch 100 · TEST01\n\n**VALID** **COMPLIANT LENGTH** 3-test01" in md


def test_not_a_report_directory_is_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no run.json or sweep.json" in err


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Reports inspect themselves only in this test: a copy gains a script that counts decoded images.
IMAGE_PROBE = ("<script>addEventListener('load',()=>{const i=[...document.images];document.body.dataset.images="
               "i.length+':'+i.filter(x=>x.complete&&x.naturalWidth>0).length})</script></body>")


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--hide-scrollbars",
                           *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_chromium_renders_the_report_without_errors(report, tmp_path):
    shot = tmp_path / "report.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1280,2000", (report / "report.html").as_uri(),
                    profile=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    page_errors = [line for line in done.stderr.splitlines()
                   if "CONSOLE" in line or "Uncaught" in line or "net::ERR" in line or "Failed to load" in line]
    assert not page_errors, page_errors
    assert shot.read_bytes().startswith(PNG_MAGIC)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / ".gitignore").write_text("*\n")
    shutil.copyfile(shot, ARTIFACTS / "report-screenshot.png")

    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1280, 2000)
        assert len(image.convert("RGB").getcolors(1 << 20) or ()) > 500  # a page, not a blank

    probe = tmp_path / "probe.html"
    probe.write_text((report / "report.html").read_text().replace("</body>", IMAGE_PROBE))
    dom = chromium("--dump-dom", "--virtual-time-budget=5000", probe.as_uri(), profile=tmp_path / "profile")
    assert f'data-images="{len(FIGURES)}:{len(FIGURES)}"' in dom.stdout, dom.stdout[-500:]
