"""`harness run` (the default command): one LoadGen test, then its summary."""

from __future__ import annotations

import argparse

from harness.cli.args import add_run_arguments, config_from_args
from harness.cli.summary import print_summary
from harness.loadgen import benchmark

HELP = "one LoadGen test (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def main(args: argparse.Namespace) -> int:
    print_summary(benchmark.run_benchmark(config_from_args(args)))
    return 0
