"""`harness report DIR`: write the report of a run, a sweep or a directory of runs."""

from __future__ import annotations

from pathlib import Path

from harness.report.write import FIGURES, write_report

HELP = "HTML and Markdown report (figures, statistics, system disclosure) of a run or sweep directory"


def add_arguments(parser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a run directory, a sweep directory, or a directory of runs")
    parser.add_argument("--output", metavar="DIR", help="write the report here instead of into DIR")


def main(args) -> int:
    paths = write_report(Path(args.dir), Path(args.output) if args.output else None)
    print(f"report: {paths.html}\n        {paths.markdown} ({len(paths.figures)} figures in {paths.markdown.parent / FIGURES})")
    return 0
