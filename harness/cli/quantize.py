"""`harness quantize`: build (or find) the cached INT8 model for a model and calibration list.

Runs also quantize on first INT8 use; this command does it ahead of time and says
where the model is and how it was made.
"""

from __future__ import annotations

import argparse
import json

from harness.cli.args import add_run_arguments, config_from_args
from harness.files import sha256_file
from harness.loadgen.inputs import preprocessed_samples, resolve_inputs
from harness.models.quantize import METHOD, quantized_model

HELP = "make the static INT8 model (QDQ, per-channel) from a calibration list"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)


def main(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    inputs = resolve_inputs(cfg)
    path, indices = quantized_model(inputs.artifact, inputs.dataset, preprocessed_samples(inputs, cfg.progress),
                                    cfg.calibration_list)
    print(f"INT8 model: {path}")
    print(f"  sha256 {sha256_file(path)}; calibrated on {len(indices)} images of {inputs.dataset.root}")
    print(f"  method: {json.dumps(METHOD)}")
    return 0
