"""`harness report`: every figure, every disclosure field, and a page Chromium renders cleanly."""

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.patches import Rectangle, StepPatch

from harness.cli.main import main
from harness.report import build, charts
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


def test_synthetic_weights_and_a_single_run(tmp_path, monkeypatch):
    run = write_run(tmp_path / "run", "SingleStream", single_stream_timeline(range(10**6, 2 * 10**6, 10**4)))
    figures = capture_figures(monkeypatch)
    paths = write_report(run)
    html = paths.html.read_text()
    assert SYNTHETIC_WEIGHTS_NOTE in html.lower() and "synthetic weights" in paths.markdown.read_text()
    assert len(images(html)) == 3  # the two study figures and the run's own
    # The Offline figure has nothing to draw and says so inside the image; the SingleStream one has its bar.
    offline, single = axes_titled(figures, THROUGHPUT_TITLE), axes_titled(figures, LATENCY_TITLE)
    assert [t.get_text() for t in offline.texts] == ["no completed run in this scenario"] and not offline.containers
    record = json.loads((run / "run.json").read_text())
    assert bar_heights(single) == [pytest.approx(record["result"]["value"] / 1e6)]


# ---- the values drawn: what each figure shows is what run.json and stats.json say ------------

THROUGHPUT_TITLE, LATENCY_TITLE = "Offline throughput by precision", "Batch-1 p90 latency by precision"
UNITS = {"s": 1e9, "ms": 1e6, "µs": 1e3}


def capture_figures(monkeypatch) -> list:
    """The matplotlib figures the report draws from now on, before they become PNG bytes."""
    figures = []
    png = charts._png

    def keep(fig):
        figures.append(fig)
        return png(fig)

    monkeypatch.setattr(charts, "_png", keep)
    return figures


def axes_titled(figures: list, title: str):
    (ax,) = [ax for fig in figures for ax in fig.axes if ax.get_title(loc="left") == title]
    return ax


def bar_heights(ax) -> list[float]:
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    return [bar.get_height() for bar in bars]


def errorbars(ax) -> list[tuple[float, float, float, float]]:
    """(x, point, whisker low, whisker high) of each dot drawn with whiskers."""
    (container,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    line, _, (whiskers,) = container.lines
    return [(x, y, seg[0][1], seg[1][1])
            for x, y, seg in zip(line.get_xdata(), line.get_ydata(), whiskers.get_segments())]


def vertical_lines(ax) -> list[float]:
    """The x of each full-height vertical line (axvline)."""
    return [line.get_xdata()[0] for line in ax.lines
            if list(line.get_ydata()) == [0, 1] and line.get_xdata()[0] == line.get_xdata()[1]]


def unit_scale(ax) -> float:
    return UNITS[ax.get_xlabel().rsplit("(", 1)[1].rstrip(")")]


@pytest.fixture(scope="module")
def drawn(quick_sweep, tmp_path_factory) -> tuple[list, dict]:
    """Every figure the sweep's report draws, and each run's own figure by run id."""
    with pytest.MonkeyPatch.context() as patch:
        figures, by_run = capture_figures(patch), {}
        run_figure = build._run_figure

        def keep(run, number):
            image = run_figure(run, number)
            by_run[run.run_id] = figures[-1]
            return image

        patch.setattr(build, "_run_figure", keep)
        write_report(quick_sweep, tmp_path_factory.mktemp("drawn"))
    return figures, by_run


def completed(quick_sweep: Path) -> dict[str, tuple[dict, dict]]:
    """scenario -> (run.json, stats.json) of the sweep's FP32 runs."""
    sweep = json.loads((quick_sweep / "sweep.json").read_text())
    found = {}
    for entry in sweep["runs"]:
        if entry["status"] == "completed":
            run = quick_sweep / entry["run_dir"]
            record = json.loads((run / "run.json").read_text())
            found[record["config"]["scenario"]] = (record, json.loads((run / "stats.json").read_text()))
    return found


def test_throughput_figure_draws_the_runs_numbers(drawn, quick_sweep):
    record, stats = completed(quick_sweep)["Offline"]
    ax = axes_titled(drawn[0], THROUGHPUT_TITLE)
    assert bar_heights(ax) == [pytest.approx(record["result"]["value"]), 0]  # FP32, then BF16 (skipped): no bar
    steady = stats["steady_state"]
    [(x, point, low, high)] = errorbars(ax)
    assert x == 0 and point == pytest.approx(steady["mean_rate"])
    assert (low, high) == (pytest.approx(steady["mean_rate_ci_low"]), pytest.approx(steady["mean_rate_ci_high"]))


def test_latency_figure_draws_the_runs_numbers(drawn, quick_sweep):
    record, stats = completed(quick_sweep)["SingleStream"]
    ax = axes_titled(drawn[0], LATENCY_TITLE)
    assert bar_heights(ax) == [pytest.approx(record["result"]["value"] / 1e6), 0]  # ns drawn as ms
    p90 = stats["latency"]["percentiles"]["p90"]
    [(x, point, low, high)] = errorbars(ax)
    assert x == 0 and point == pytest.approx(p90["value_ns"] / 1e6)
    assert low == pytest.approx(p90["ci_low_ns"] / 1e6)
    assert high == pytest.approx((p90["ci_high_ns"] or p90["value_ns"]) / 1e6)  # unbounded: no upper whisker
    (markers,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    [(x, marker)] = markers.get_offsets().tolist()
    assert round(x) == 0 and marker == pytest.approx(record["result"]["early_stopping_p90_ns"] / 1e6)  # FP32's slot


@pytest.mark.parametrize("scenario", ["Offline", "SingleStream"])
def test_run_figure_draws_the_runs_numbers(drawn, quick_sweep, scenario):
    record, stats = completed(quick_sweep)[scenario]
    percentiles = stats["latency"]["percentiles"]
    figure = [drawn[1][record["run_id"]]]
    histogram = axes_titled(figure, "Latency histogram")
    scale = unit_scale(histogram)
    assert [x * scale for x in vertical_lines(histogram)] == [
        pytest.approx(percentiles["p50"]["value_ns"]), pytest.approx(percentiles["p90"]["value_ns"])]
    # Every sample is in the histogram once: its bars add up to the run's sample count.
    assert sum(p.get_height() for p in histogram.patches) == pytest.approx(record["result"]["samples"])

    cdf = axes_titled(figure, "Latency CDF")
    assert [x * scale for x in vertical_lines(cdf)] == [pytest.approx(percentiles["p90"]["value_ns"])]
    low, high = percentiles["p90"]["ci_low_ns"], percentiles["p90"]["ci_high_ns"]
    spans = [p for p in cdf.patches if isinstance(p, Rectangle)]
    if low is not None and high is not None and high > low:
        (span,) = spans
        assert (span.get_x() * scale, (span.get_x() + span.get_width()) * scale) == (
            pytest.approx(low), pytest.approx(high))
    else:
        assert spans == []

    rate = axes_titled(figure, "Throughput over time")
    series, steady = stats["throughput"], stats["steady_state"]
    if series is None:
        assert not [p for p in rate.patches if isinstance(p, StepPatch)]
        return
    (stairs,) = [p for p in rate.patches if isinstance(p, StepPatch)]
    values, edges, _ = stairs.get_data()
    assert np.allclose(values, series["rates"]) and edges[1] == pytest.approx(series["bin_s"])
    (steady_line,) = [c for c in rate.collections if isinstance(c, LineCollection)]
    assert steady_line.get_segments()[0][:, 1].tolist() == [pytest.approx(steady["mean_rate"])] * 2


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
