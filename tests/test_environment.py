"""The suite runs only where everything it tests is installed.

A missing required package fails here, with what to install, instead of turning into
skipped tests elsewhere: a green run then means every path was exercised. Only a CPU
that lacks an instruction set is a reason to skip, and those skips say so.
"""

import platform
import subprocess
import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

INSTALL = "pip install -e '.[test]' in the checkout"
# setup.py installs onnxruntime-openvino (and OpenVINO itself) on x86-64 Linux only.
OPENVINO_REQUIRED = platform.machine() == "x86_64" and sys.platform == "linux"
# The modules the tests import, by the package that provides each.
MODULES = {"mlcommons-loadgen": "mlperf_loadgen", "onnxruntime": "onnxruntime", "onnx": "onnx",
           "numpy": "numpy", "scipy": "scipy", "Pillow": "PIL", "matplotlib": "matplotlib", "tqdm": "tqdm",
           "pytest": "pytest", "hypothesis": "hypothesis", "opencv-python-headless": "cv2"}


def declared_requirements() -> list[Requirement]:
    """harness's install_requires and its test extra that apply on this platform."""
    try:
        declared = metadata.requires("harness") or []
    except metadata.PackageNotFoundError:
        pytest.fail(f"harness is not installed; {INSTALL}")
    requirements = [Requirement(text) for text in declared]
    return [r for r in requirements if r.marker is None or r.marker.evaluate({"extra": "test"})]


def test_every_declared_requirement_is_installed_in_a_matching_version():
    problems = []
    for requirement in declared_requirements():
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name} is not installed")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement.name} {version} is installed, setup.py asks for {requirement.specifier}")
    assert not problems, "; ".join(problems) + f"; {INSTALL}"


def test_the_test_extra_is_declared():
    # The packages below are imported by the tests; setup.py must name them, or installing
    # the test extra would not bring them and the check above would not miss them.
    names = {r.name.lower() for r in declared_requirements()}
    assert {"pytest", "hypothesis", "opencv-python-headless", "mlcommons-loadgen"} <= names


def import_error(module: str) -> str | None:
    """Why `module` does not import, or None. In a child process: the `openvino` package loaded
    into this one would clash with the OpenVINO libraries onnxruntime-openvino loads later."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["exit code"])[-1]


@pytest.mark.parametrize("package, module", sorted(MODULES.items()))
def test_required_module_imports(package, module):
    error = import_error(module)
    assert error is None, f"cannot import {module} ({error}); install {package}: {INSTALL}"


@pytest.mark.skipif(not OPENVINO_REQUIRED, reason="onnxruntime-openvino is a dependency on x86-64 Linux only")
def test_onnx_runtime_has_the_openvino_ep():
    import onnxruntime as ort

    assert "OpenVINOExecutionProvider" in ort.get_available_providers(), (
        f"onnxruntime {ort.__version__} has no OpenVINO EP: another onnxruntime build shadows "
        "onnxruntime-openvino; pip uninstall onnxruntime, then pip install --force-reinstall onnxruntime-openvino")
    assert import_error("openvino") is None
