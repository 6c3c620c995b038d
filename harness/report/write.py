"""The HTML and Markdown report of a run, a sweep or a directory of runs.

Written into DIR (or --output): report.html, self-contained (inline CSS, figures as
base64 PNG, no external URLs), and report.md with its figures under figures/.
It reads run directories only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.files import atomic_write_bytes, atomic_write_text
from harness.report.build import build_document
from harness.report.html import render_html
from harness.report.inputs import read_input
from harness.report.markdown import render_markdown

FIGURES = "figures"


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]
    skipped: tuple[str, ...] = ()  # run directories left out, and why


def write_report(path: Path, output: Path | None = None) -> ReportPaths:
    output = Path(output or path)
    inp = read_input(Path(path))
    doc = build_document(inp)
    figures = []
    try:
        for image in doc.images():
            figure = output / FIGURES / f"{image.name}.png"
            atomic_write_bytes(figure, image.png)
            figures.append(figure)
        paths = ReportPaths(output / "report.html", output / "report.md", tuple(figures), inp.skipped)
        atomic_write_text(paths.html, render_html(doc))
        atomic_write_text(paths.markdown, render_markdown(doc, FIGURES))
    except OSError as exc:  # a file in the way, a read-only mount, a full disk
        raise HarnessError(f"cannot write the report under {output} ({exc.strerror}); "
                           "pass --output DIR to write it elsewhere") from None
    return paths
