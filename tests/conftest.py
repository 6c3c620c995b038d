import os
from pathlib import Path

import pytest

from tinymodels import COLOUR_SPEC, colour_dataset, dominant_colour_model


@pytest.fixture(scope="session", autouse=True)
def harness_cache(tmp_path_factory) -> Path:
    """One cache for the session: the embedded model and synthetic data are built once."""
    path = Path(os.environ.get("HARNESS_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["HARNESS_CACHE"] = str(path)  # inherited by the LoadGen child processes
    return path


@pytest.fixture(scope="session", autouse=True)
def no_system_profile(tmp_path_factory) -> Path:
    """Runs in tests take the layouts they ask for, not one `harness tune` left on this machine."""
    path = tmp_path_factory.mktemp("systems")
    os.environ["HARNESS_SYSTEMS_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def colour_model(tmp_path_factory) -> Path:
    return dominant_colour_model(tmp_path_factory.mktemp("models") / "colour.onnx")


@pytest.fixture(scope="session")
def colour_data(tmp_path_factory) -> Path:
    return colour_dataset(tmp_path_factory.mktemp("colours"), 60)


@pytest.fixture(scope="session")
def quick_sweep(colour_model, colour_data, tmp_path_factory) -> Path:
    """`harness sweep` of FP32 and BF16 on the CPU EP, once for the sweep and report tests.
    The CPU EP runs FP32 but not BF16: one precision runs, one is skipped with its reason."""
    from harness.cli.main import main

    out = tmp_path_factory.mktemp("sweeps")
    args = colour_args(colour_model, colour_data, out, "--target-qps", "1e6", "--ep", "cpu")
    assert main(["sweep", *args, "--precisions", "fp32,bf16"]) == 0
    (sweep_dir,) = out.iterdir()
    return sweep_dir


def colour_args(model: Path, dataset: Path, out: Path, *extra: str) -> list[str]:
    """CLI arguments for a quick run of the dominant-colour model."""
    spec = [f"--{k.replace('_', '-')}={v}" for k, v in COLOUR_SPEC.items()]
    return ["--model", str(model), "--preset", "embedded", *spec, "--dataset", str(dataset),
            "--output-dir", str(out), "--quick", "--no-progress",
            # Offline is VALID only if its one query outlasts the minimum duration: 11 M samples/s
            # would be needed to finish 550,000 samples in 50 ms; this model runs 0.2-0.6 M/s.
            "--duration", "0.05", "--target-qps", "1e7", *extra]
