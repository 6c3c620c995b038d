"""`harness report DIR`: write the report of a run, a sweep, a formal run or a directory of runs."""

from __future__ import annotations

import sys
from pathlib import Path

HELP = "HTML and Markdown report (figures, statistics, system disclosure) of a run or sweep directory"


def add_arguments(parser) -> None:
    parser.add_argument("dir", metavar="DIR", help="a run, sweep or formal-run directory, or a directory of runs")
    parser.add_argument("--output", metavar="DIR", help="write the report here instead of into DIR")


def main(args) -> int:
    from harness.report.write import FIGURES, write_report  # matplotlib: 0.8 s that other commands skip
    paths = write_report(Path(args.dir), Path(args.output) if args.output else None)
    for reason in paths.skipped:
        print(f"harness: warning: left out of the report: {reason}", file=sys.stderr)
    print(f"report: {paths.html}\n        {paths.markdown} ({len(paths.figures)} figures in {paths.markdown.parent / FIGURES})")
    return 0
