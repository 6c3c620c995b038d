"""`harness compare RUN_A RUN_B`: is B faster or slower, and is the difference real."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError
from harness.report.compare import check_comparable, compare_runs, load_run, render, to_json

HELP = "is run B faster or slower than run A, and is the difference real"


def add_arguments(parser) -> None:
    parser.add_argument("run_a", metavar="RUN_A", help="the baseline run directory")
    parser.add_argument("run_b", metavar="RUN_B", help="the run compared with it")
    parser.add_argument("--force", action="store_true",
                        help="compare runs of different scenarios or models anyway")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")


def main(args) -> int:
    if not 0 < args.alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1, got {args.alpha}")
    a, b = load_run(Path(args.run_a)), load_run(Path(args.run_b))
    if not args.force:
        check_comparable(a, b)
    outcome = compare_runs(a, b, args.alpha)
    print(json.dumps(to_json(a, b, outcome), indent=2) if args.json else render(a, b, outcome))
    return 0
