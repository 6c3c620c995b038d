"""`python -m audit run|verify|package|check|formal`: every AuditError is one line and a non-zero exit."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit import formal
from audit.configs import TESTS
from audit.rules import ROUND, SYSTEM_TYPES
from harness.cli.args import Parser, run_command

RUN_KINDS = ("accuracy", *TESTS)


def _echo_verdicts(verdicts) -> None:
    for v in verdicts:
        print(f"{v.test} {v.filename}: {v.shown()}")


def cmd_run(args) -> int:
    from audit.runner import run_accuracy, run_compliance
    from audit.runs import read_run
    from audit.verify import verify

    audited = read_run(Path(args.performance_run))
    out = Path(args.output_dir) if args.output_dir else audited.path.parent
    if args.kind == "accuracy":
        print(f"accuracy run: {run_accuracy(audited, out).path}")
        return 0
    run = run_compliance(args.kind, audited, out)
    print(f"{args.kind} run: {run.path}")
    if args.kind == "TEST01" and not args.accuracy_run:
        print(f"verify it with: python -m audit verify TEST01 {run.path} --audited {audited.path} "
              "--accuracy-run ACCURACY_RUN")
        return 0
    accuracy = read_run(Path(args.accuracy_run)) if args.accuracy_run else None
    verdicts = verify(args.kind, audited, run, accuracy)
    for v in verdicts:
        v.write(run.path)
    _echo_verdicts(verdicts)
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_verify(args) -> int:
    from audit.runs import read_run
    from audit.verify import verify

    run = read_run(Path(args.test_run))
    accuracy = read_run(Path(args.accuracy_run)) if args.accuracy_run else None
    verdicts = verify(args.test, read_run(Path(args.audited)), run, accuracy)
    out = Path(args.out) if args.out else run.path
    for v in verdicts:
        print(v.text(), end="")
        v.write(out)
    return 0 if all(v.ok for v in verdicts) else 1


def cmd_package(args) -> int:
    from audit.package import package

    root = package([Path(r) for r in args.runs], Path(args.out), args.submitter, args.system, args.division,
                   round_=args.round, system_type=args.system_type)
    print(f"submission tree: {root}; check it with: python -m audit check {args.out}")
    return 0


def cmd_check(args) -> int:
    from audit.check import check_tree

    report = check_tree(Path(args.tree), quick=args.quick, runs=[Path(r) for r in args.runs or ()])
    print("\n".join(report.lines()))
    return 0 if report.passed else 1


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m audit", description="Compliance tests, submission packaging and its checker for harness runs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the accuracy run or a compliance test for a performance run")
    p.add_argument("kind", choices=RUN_KINDS)
    p.add_argument("performance_run", metavar="PERFORMANCE_RUN", help="the run directory being audited")
    p.add_argument("--output-dir", help="where the new run directory goes (default: beside the audited run)")
    p.add_argument("--accuracy-run", help="TEST01: the accuracy run to compare responses with")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("verify", help="write verify_accuracy.txt / verify_performance.txt for a compliance run")
    p.add_argument("test", choices=tuple(TESTS))
    p.add_argument("test_run", metavar="TEST_RUN")
    p.add_argument("--audited", required=True, metavar="PERFORMANCE_RUN")
    p.add_argument("--accuracy-run", help="TEST01: the accuracy run")
    p.add_argument("--out", help="directory for the verify files (default: TEST_RUN)")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("package", help="build the submission tree from run directories")
    p.add_argument("runs", nargs="+", metavar="RUN", help="performance, accuracy, TEST01 and TEST04 runs")
    p.add_argument("--out", required=True, metavar="TREE")
    p.add_argument("--submitter", required=True)
    p.add_argument("--system", required=True)
    p.add_argument("--division", choices=("closed", "open"),
                   help="default: closed for the reference resnet50_v1.onnx with real weights, else open")
    p.add_argument("--system-type", choices=SYSTEM_TYPES, help="the system JSON's system_type (default: to fill)")
    p.add_argument("--round", help=f"MLPerf Inference round (default: the installed LoadGen's, {ROUND}); "
                                   "another round is an error")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("check", help=f"check a submission tree as the official checker does (round {ROUND})")
    p.add_argument("tree", metavar="TREE")
    p.add_argument("--quick", action="store_true",
                   help="waive the length rules and person-filled fields (for trees of quick runs); says so")
    p.add_argument("--runs", action="append", metavar="DIR",
                   help="a directory holding the packaged runs: their full accuracy logs let accuracy.txt and "
                        "TEST01 be recomputed (a formal run's runs/ is found by itself); repeatable")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("formal", help=formal.HELP)
    formal.add_arguments(p)
    p.set_defaults(func=formal.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command("audit", build_parser().parse_args(sys.argv[1:] if argv is None else argv))
