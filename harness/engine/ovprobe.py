"""Ask OpenVINO what precision it compiles a model to: `python -m harness.engine.ovprobe MODEL CONFIG_JSON`.

The OpenVINO EP exposes no compiled-model properties through ONNX Runtime, so this
compiles the same ONNX file with the same CPU configuration through OpenVINO's own
API (the same OpenVINO release onnxruntime-openvino bundles) and reads back the
runtime model: the precision each convolution actually executes in. It runs in a
separate process so that two OpenVINO builds never share an address space.
"""

from __future__ import annotations

import collections
import json
import sys


def probe(model_path: str, config: dict) -> dict:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model_path), "CPU", config)
    convolutions: collections.Counter = collections.Counter()
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        if info["layerType"].astype(str) == "Convolution":
            convolutions[info["runtimePrecision"].astype(str)] += 1
    return {"openvino_version": ov.__version__.split("-")[0],
            "inference_precision_hint": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
            "convolution_precisions": dict(convolutions)}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1], json.loads(sys.argv[2]))))
