"""The command line: `harness [run] --scenario Offline ...` and its subcommands.

Every HarnessError becomes one line on stderr and a non-zero exit code. A subcommand is a
module with HELP, add_arguments(parser) and main(args) -> exit code, listed in COMMANDS.
Packages built on harness add theirs through the `harness.commands` entry-point group:
`audit` adds `formal` that way, so harness itself never imports audit.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import entry_points

from harness.cli import compare, quantize, report, run, sweep, tune
from harness.cli.args import Parser, run_command

COMMANDS = {"run": run, "quantize": quantize, "compare": compare, "sweep": sweep, "report": report,
            "tune": tune}
PLUGIN_GROUP = "harness.commands"


def commands() -> dict:
    """The built-in subcommands and those installed packages register (e.g. audit's formal)."""
    found = dict(COMMANDS)
    for entry in entry_points(group=PLUGIN_GROUP):
        found.setdefault(entry.name, entry.load())
    return found


def build_parser(available: dict | None = None) -> argparse.ArgumentParser:
    available = commands() if available is None else available
    parser = Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for name, module in available.items():
        command = sub.add_parser(name, help=module.HELP)
        module.add_arguments(command)
        command.set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = commands()
    if "--formal" in argv:  # `harness --scenario X --formal ...` is the formal subcommand
        argv = ["formal", *(a for a in argv[argv[0] == "run":] if a != "--formal")]
    if not argv or argv[0] not in (*available, "-h", "--help"):
        argv.insert(0, "run")
    return run_command("harness", build_parser(available).parse_args(argv))
