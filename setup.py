"""Build harness and its native hot loop (ext/*.pyx -> harness._native.*)."""
import os
from pathlib import Path

import numpy
from Cython.Build import cythonize
from setuptools import Extension, find_packages, setup

HERE = Path(__file__).parent
# onnxruntime and onnxruntime-openvino install the same `onnxruntime` module, so an
# environment holds one of them. HARNESS_ORT=onnxruntime at install time takes the plain
# release: the current CPU EP (faster than the one inside onnxruntime-openvino), no OpenVINO EP.
X86_LINUX = "platform_machine == 'x86_64' and sys_platform == 'linux'"
if os.environ.get("HARNESS_ORT") == "onnxruntime":
    ENGINE = ["onnxruntime>=1.20,<2"]
else:
    ENGINE = [
        f"onnxruntime-openvino>=1.22,<1.26; {X86_LINUX}",
        "onnxruntime>=1.20,<1.26; platform_machine != 'x86_64' or sys_platform != 'linux'",
        # The OpenVINO release onnxruntime-openvino 1.24 bundles; its Python API reads back
        # the precision the compiled model executes in (harness.engine.ovprobe).
        f"openvino>=2025.4,<2025.5; {X86_LINUX}",
    ]

RAY = "ray>=2.60,<3"  # the release whose loopback binding tests/test_cluster.py checks

extensions = [
    Extension(
        f"harness._native.{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((HERE / "ext").glob("*.pyx"))
]

setup(
    name="harness",
    version="0.1.0",
    description="MLPerf-style ResNet-50 inference benchmark harness for CPU servers",
    python_requires=">=3.11",
    # configs/ is shipped as the package harness.configs so defaults resolve the same
    # way from a checkout, an editable install and a wheel.
    packages=find_packages(include=["harness", "harness.*", "audit", "audit.*"]) + ["harness.configs"],
    package_dir={"harness.configs": "configs"},
    package_data={"harness.configs": ["*.toml", "systems/*.toml"]},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    ),
    install_requires=[
        "mlcommons-loadgen>=6.0,<6.1",
        *ENGINE,
        "onnx>=1.16,<1.25",
        "numpy>=1.26,<3",
        "scipy>=1.11,<2",
        "Pillow>=10,<14",
        "tqdm>=4.60,<5",
        "matplotlib>=3.8,<4",
    ],
    extras_require={
        "test": ["pytest>=8", "hypothesis>=6.100", "opencv-python-headless>=4.8", RAY],
        # --cluster: one LoadGen driving the nodes of a Ray cluster; every node needs it too.
        "cluster": [RAY],
        # bench/anchors.py runs OpenVINO's benchmark_app next to the harness.
        "bench": [f"openvino>=2025.4,<2025.5; {X86_LINUX}"],
    },
    entry_points={
        "console_scripts": ["harness=harness.cli.main:main"],
        # audit adds `harness formal` (harness never imports audit).
        "harness.commands": ["formal=audit.formal"],
    },
)
