"""`harness run` (the default command): one LoadGen test, then its summary; with --repeat N,
N independent tests of the same configuration, then their run-to-run spread."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.args import add_repeat_argument, add_run_arguments, config_from_args
from harness.cli.summary import print_summary, spread_lines
from harness.errors import ConfigError
from harness.loadgen import benchmark
from harness.results.repeats import new_group_id, record_repeat

HELP = "one LoadGen test (the default command)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    add_repeat_argument(parser)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.repeat == 1:
        print_summary(benchmark.run_benchmark(cfg))
        return 0
    if cfg.mode != "performance":
        raise ConfigError(f"--repeat {args.repeat} with --mode {cfg.mode}: repeats measure the spread of a "
                          "performance figure, and an accuracy run computes the same top-1 every time; drop --repeat")
    group = new_group_id(cfg.precision, cfg.scenario)
    records = []
    for index in range(1, args.repeat + 1):
        print(f"[{index}/{args.repeat}] repeat of group {group}")
        # A run that fails stops the repeats: its cause would most likely fail the next one too.
        record = benchmark.run_benchmark(cfg)
        records.append(record_repeat(Path(cfg.output_dir) / record["run_id"], record, group, index, args.repeat))
        print_summary(records[-1])
    print("\n".join(spread_lines(records, group)))
    return 0

