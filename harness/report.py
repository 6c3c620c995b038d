"""`harness report DIR`: the HTML and Markdown report of a run, a sweep or a directory of runs.

Written into DIR (or --output): report.html, self-contained (inline CSS, figures as
base64 PNG, no external URLs), and report.md with its figures under figures/.
It reads run directories only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.files import atomic_write_bytes, atomic_write_text

HELP = "HTML and Markdown report (figures, statistics, system disclosure) of a run or sweep directory"
FIGURES = "figures"


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def write_report(path: Path, output: Path | None = None) -> ReportPaths:
    from harness.report_build import build_document
    from harness.report_html import render_html
    from harness.report_md import render_markdown
    from harness.report_runs import read_input

    output = Path(output or path)
    doc = build_document(read_input(Path(path)))
    figures = []
    for image in doc.images():
        figure = output / FIGURES / f"{image.name}.png"
        atomic_write_bytes(figure, image.png)
        figures.append(figure)
    paths = ReportPaths(output / "report.html", output / "report.md", tuple(figures))
    atomic_write_text(paths.html, render_html(doc))
    atomic_write_text(paths.markdown, render_markdown(doc, FIGURES))
    return paths


def add_arguments(parser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a run directory, a sweep directory, or a directory of runs")
    parser.add_argument("--output", metavar="DIR", help="write the report here instead of into DIR")


def main(args) -> int:
    paths = write_report(Path(args.dir), Path(args.output) if args.output else None)
    print(f"report: {paths.html}\n        {paths.markdown} ({len(paths.figures)} figures in {paths.markdown.parent / FIGURES})")
    return 0
