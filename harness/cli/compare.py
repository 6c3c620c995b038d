"""`harness compare A B`: is B faster or slower, and is the difference real.

A and B are each a run directory, or a directory of repeats (every completed run directly
inside it, of one configuration: what `harness run --repeat N --output-dir DIR` writes).
With 2 or more runs on both sides the verdict is at run level."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import HarnessError
from harness.report.compare import check_comparable, compare_sides, load_side, render, to_json

HELP = "is run (or repeats) B faster or slower than A, and is the difference real"


def add_arguments(parser) -> None:
    parser.description = __doc__.split("\n\n")[1].replace("\n", " ")
    parser.add_argument("run_a", metavar="A", help="the baseline: a run directory or a directory of repeats")
    parser.add_argument("run_b", metavar="B", help="the run, or repeats, compared with it")
    parser.add_argument("--force", action="store_true",
                        help="compare runs of different scenarios or models anyway")
    parser.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")


def main(args) -> int:
    if not 0 < args.alpha < 1:
        raise HarnessError(f"--alpha must be between 0 and 1, got {args.alpha}")
    a, b = load_side(Path(args.run_a)), load_side(Path(args.run_b))
    if not args.force:
        check_comparable(a.run, b.run)
    outcome = compare_sides(a, b, args.alpha)
    print(json.dumps(to_json(a, b, outcome), indent=2) if args.json else render(a, b, outcome))
    return 0
