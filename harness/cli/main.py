"""The command line: `harness [run] --scenario Offline ...` and its subcommands.

Every HarnessError becomes one line on stderr and a non-zero exit code. A subcommand is a
module with HELP, add_arguments(parser) and main(args) -> exit code, listed in COMMANDS.
Packages built on harness add theirs through the `harness.commands` entry-point group:
`audit` adds `formal` that way, so harness itself never imports audit.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from importlib.metadata import entry_points

from harness.cli import cluster, compare, quantize, report, run, sweep, tune
from harness.cli.args import Parser, run_command

COMMANDS = {"run": run, "quantize": quantize, "compare": compare, "sweep": sweep, "report": report,
            "tune": tune, "cluster": cluster}
PLUGIN_GROUP = "harness.commands"


def plugins() -> dict:
    """The subcommands installed packages register (e.g. audit's formal), not yet loaded."""
    return {entry.name: entry for entry in entry_points(group=PLUGIN_GROUP) if entry.name not in COMMANDS}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every built-in subcommand, and of the plugin `command` if it is one. Other
    plugins are only named: loading one runs its package's imports, which a run does not need."""
    parser = Parser(prog="harness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for name, module in COMMANDS.items():
        add = sub.add_parser(name, help=module.HELP)
        module.add_arguments(add)
        add.set_defaults(func=module.main)
    for name, entry in plugins().items():
        if name == command:
            module = entry.load()
            add = sub.add_parser(name, help=module.HELP)
            module.add_arguments(add)
            add.set_defaults(func=module.main)
        else:
            sub.add_parser(name, help=f"(from {entry.value.split('.')[0]}; see harness {name} --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = [*COMMANDS, *plugins()]
    if "--formal" in argv:  # `harness --scenario X --formal ...` is the formal subcommand
        argv = ["formal", *(a for a in argv[argv[0] == "run":] if a != "--formal")]
    if argv and not argv[0].startswith("-") and argv[0] not in available:
        # `run` takes no positional argument: a first word that is no command is a mistyped one
        print(f"harness: error: {unknown_command(argv[0], available)} (see harness --help)", file=sys.stderr)
        return 2
    if not argv or argv[0] not in (*available, "-h", "--help"):
        argv.insert(0, "run")
    return run_command("harness", build_parser(argv[0]).parse_args(argv))


def unknown_command(word: str, available: list[str]) -> str:
    close = difflib.get_close_matches(word, available, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the commands are {', '.join(sorted(available))}"
    return f"{word!r} is not a harness command; {hint}"
