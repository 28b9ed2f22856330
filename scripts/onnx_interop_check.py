#!/usr/bin/env python3
"""Checks every ONNX file mlpconv wrote into a folder with the onnx checker and onnxruntime.

Usage: python scripts/onnx_interop_check.py FOLDER   (FOLDER = $MLPCONV_INTEROP_DIR/onnx)

The Swift tests copy each ONNX file they write into MLPCONV_INTEROP_DIR/onnx when it is set, as NAME.onnx (plus its
external-data file, named as the initializers' `location` says), next to NAME.expect.json:

    {"file": "NAME.onnx", "dtype": "float32" | "float64", "ir_version": 8, "opset": 17,
     "input_name": "input", "output_name": "output",
     "inputs": [[...], ...], "predictions": [[...], ...],     (mlpconv's predict on the inputs, [rows, inputs])
     "tolerance": 1e-6}                                       (max abs difference: 1e-6 float32, 1e-12 float64)

For every NAME.expect.json:

- `onnx.checker.check_model(path, full_check=True)` passes (by path, so external data is found and checked);
- the ModelProto's ir_version and its default-domain ("" or "ai.onnx") opset equal `ir_version` and `opset`;
- the graph has one input, named `input_name`, of the stated dtype, shaped [batch, inputs] with a symbolic first
  dimension (`dim_param`) and `inputs` as wide as its rows; and one output, named `output_name`, of that dtype,
  shaped [batch, units] with the same symbolic first dimension and a fixed `units` as wide as the predictions;
- `onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])` runs `inputs` (as the dtype) in one batch
  and row by row, and both agree with `predictions` within `tolerance` (which must not be looser than the contract's
  1e-6 float32 / 1e-12 float64).

Nothing is skipped silently: a NAME.onnx without its expect.json, an expect.json without its file (or naming another
file), and a missing or empty folder are failures. One line per file (`ok` or `FAIL` with the reason), then
`onnx: N passed, M failed`; exits 1 on any failure. scripts/onnx_interop_check_selftest.py checks this script on
files built with the onnx helper, right and deliberately wrong.
"""
import json
import math
import os
import sys

import numpy as np
import onnx
import onnxruntime
from interop_report import EXPECT_SUFFIX, check_all  # noqa: E402  (scripts/ is on sys.path)

DTYPES = {"float32": (np.float32, onnx.TensorProto.FLOAT, 1e-6), "float64": (np.float64, onnx.TensorProto.DOUBLE, 1e-12)}
REQUIRED_KEYS = ("file", "dtype", "ir_version", "opset", "input_name", "output_name", "inputs", "predictions",
                 "tolerance")


def dims(value):
    """A graph input's or output's shape: dim_param strings, dim_value integers, None for an unknown dimension."""
    tensor_type = value.type.tensor_type
    if not tensor_type.HasField("shape"):
        raise AssertionError(f"{value.name!r} has no shape")
    return [d.dim_param if d.HasField("dim_param") else d.dim_value if d.HasField("dim_value") else None
            for d in tensor_type.shape.dim]


def matrix(what, values, dtype):
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise AssertionError(f"{what} is not a non-empty [rows, columns] list, shape {list(array.shape)}")
    return array


def max_abs_difference(actual, expected):
    actual = np.asarray(actual, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"onnxruntime's output has shape {list(actual.shape)}, predictions {list(expected.shape)}")
    gap = float(np.max(np.abs(actual - expected)))
    return gap if not math.isnan(gap) else math.inf


def check_signature(model, expected, dtype_code, input_width, output_width):
    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise AssertionError(f"the graph has {len(graph.input)} inputs and {len(graph.output)} outputs, not 1 and 1")
    for value, name_key, width, role in ((graph.input[0], "input_name", input_width, "input"),
                                         (graph.output[0], "output_name", output_width, "output")):
        if value.name != expected[name_key]:
            raise AssertionError(f"the graph's {role} is named {value.name!r}, mlpconv says {expected[name_key]!r}")
        if value.type.tensor_type.elem_type != dtype_code:
            raise AssertionError(f"{role} {value.name!r} has element type "
                                 f"{onnx.TensorProto.DataType.Name(value.type.tensor_type.elem_type)}, "
                                 f"not {expected['dtype']}")
        shape = dims(value)
        if len(shape) != 2 or not isinstance(shape[0], str) or not shape[0]:
            raise AssertionError(f"{role} {value.name!r} has shape {shape}, not [batch, n] with a symbolic "
                                 f"(dim_param) first dimension")
        if shape[1] != width:
            raise AssertionError(f"{role} {value.name!r} has shape {shape}; mlpconv's {role}s are {width} wide")
    batch_in, batch_out = dims(graph.input[0])[0], dims(graph.output[0])[0]
    if batch_in != batch_out:
        raise AssertionError(f"the input's batch dimension is {batch_in!r}, the output's {batch_out!r}")


def check(folder, expect_name):
    with open(os.path.join(folder, expect_name)) as handle:
        expected = json.load(handle)
    if not isinstance(expected, dict):
        raise AssertionError("the expect.json is not an object")
    missing = [k for k in REQUIRED_KEYS if k not in expected]
    if missing:
        raise AssertionError(f"the expect.json lacks {missing}")
    name = expect_name[:-len(EXPECT_SUFFIX)]
    if expected["file"] != name + ".onnx":
        raise AssertionError(f"\"file\" is {expected['file']!r}, not {name}.onnx")
    path = os.path.join(folder, expected["file"])
    if not os.path.isfile(path):
        raise AssertionError(f"{expected['file']} is missing")
    if expected["dtype"] not in DTYPES:
        raise AssertionError(f"dtype {expected['dtype']!r} is neither float32 nor float64")
    np_dtype, dtype_code, contract_tolerance = DTYPES[expected["dtype"]]
    tolerance = expected["tolerance"]
    if not (isinstance(tolerance, (int, float)) and 0 <= tolerance <= contract_tolerance):
        raise AssertionError(f"tolerance {tolerance!r} is looser than the contract's {contract_tolerance:g} "
                             f"for {expected['dtype']}")

    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path, load_external_data=False)
    if model.ir_version != expected["ir_version"]:
        raise AssertionError(f"ir_version is {model.ir_version}, mlpconv says {expected['ir_version']}")
    opsets = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    if opsets != [expected["opset"]]:
        raise AssertionError(f"the default-domain opset is {opsets or 'not imported'}, mlpconv says {expected['opset']}")

    inputs = matrix("inputs", expected["inputs"], np_dtype)
    predictions = matrix("predictions", expected["predictions"], np.float64)
    if len(inputs) != len(predictions):
        raise AssertionError(f"{len(inputs)} input rows and {len(predictions)} prediction rows")
    check_signature(model, expected, dtype_code, inputs.shape[1], predictions.shape[1])

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    input_name, output_name = expected["input_name"], expected["output_name"]
    batch = session.run([output_name], {input_name: inputs})[0]
    rows = np.concatenate([session.run([output_name], {input_name: inputs[i:i + 1]})[0] for i in range(len(inputs))])
    for how, outputs in (("in one batch", batch), ("row by row", rows)):
        if outputs.dtype != np_dtype:
            raise AssertionError(f"onnxruntime returns {outputs.dtype} {how}, not {expected['dtype']}")
        gap = max_abs_difference(outputs, predictions)
        if not gap <= tolerance:
            raise AssertionError(f"onnxruntime's outputs {how} differ from mlpconv's predictions by {gap:.3g} "
                                 f"(tolerance {tolerance:g})")
    gap = max(max_abs_difference(batch, predictions), max_abs_difference(rows, predictions))
    external = sorted({e.value for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL
                       for e in t.external_data if e.key == "location"})
    notes = [f"ir_version {model.ir_version}, opset {expected['opset']}", f"{len(inputs)} {expected['dtype']} rows "
             f"in one batch and row by row within {gap:.1e}"]
    if external:
        notes.append(f"external data {', '.join(external)}")
    return "; ".join(notes)



def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = sys.argv[1]
    if not os.path.isdir(folder):
        print(f"FAIL {folder}: no such folder (the Swift tests wrote no ONNX files)")
        print("onnx: 0 passed, 1 failed")
        return 1
    names = sorted(os.listdir(folder))
    expects = [n for n in names if n.endswith(EXPECT_SUFFIX)]
    described = {n[:-len(EXPECT_SUFFIX)] for n in expects}
    orphans = [n for n in names if n.endswith(".onnx") and n[:-len(".onnx")] not in described]
    passed, failed = check_all(folder, expects, orphans, lambda name: check(folder, name))
    print(f"onnx: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
