#!/usr/bin/env python3
"""Tests scripts/onnx_interop_check.py itself: writes a folder of interop files with the onnx helper and exporters'
files (no mlpconv involved) and checks that the check passes every right one and fails every wrong one.

Usage, from the repository root, with onnx 1.23.2, onnxruntime 1.32.0 and numpy (scripts/onnx-requirements.txt):

    python scripts/onnx_interop_check_selftest.py

Right files: Gemm/MatMul MLPs built with the onnx helper (float32 and float64, ir_version 8 / opset 17 and
ir_version 9 / opset 20, one with external data), predictions computed with numpy; and every file of fixtures/onnx
that mlpconv accepts with a [batch, n] input (TorchScript and dynamo exports, external data included), with
fixtures/onnx/expected.json's onnxruntime outputs as the predictions. Wrong ones (`bad_*`): a prediction off by 1e-4,
a float64 one off by 1e-10, the wrong opset, ir_version, dtype and input name, a static batch dimension on the input
and on the output, a file failing the checker, external data whose file is missing, a tolerance looser than the
contract's, a graph whose outputs depend on the batch (right in one batch, wrong row by row), a file without its
expect.json and the reverse. Then an empty folder and a missing one, each of which must fail.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CHECK = "scripts/onnx_interop_check.py"
FIXTURES = "fixtures/onnx"
ELEM = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE}


class Folder:
    """The folder of interop files, and which of them the check must pass."""

    def __init__(self, path):
        self.path, self.right, self.wrong = path, set(), set()

    def describe(self, name, expect):
        with open(os.path.join(self.path, name + ".expect.json"), "w") as handle:
            json.dump(dict(expect, file=name + ".onnx"), handle)
        (self.wrong if name.startswith("bad_") else self.right).add(name + ".expect.json")


def mlp(dtype="float32", opset=17, ir_version=8, batch="batch", output_batch=None, seed=0):
    """input [batch, 3] → Gemm(transB=1) → Relu → MatMul + Add → output [batch, 2], and numpy's forward pass."""
    rng = np.random.default_rng(seed)
    np_dtype = np.float32 if dtype == "float32" else np.float64
    w1 = rng.normal(0, 0.5, (4, 3)).astype(np_dtype)
    b1 = rng.normal(0, 0.5, 4).astype(np_dtype)
    k2 = rng.normal(0, 0.5, (4, 2)).astype(np_dtype)
    b2 = rng.normal(0, 0.5, 2).astype(np_dtype)
    nodes = [helper.make_node("Gemm", ["input", "w1", "b1"], ["z1"], transB=1),
             helper.make_node("Relu", ["z1"], ["h1"]),
             helper.make_node("MatMul", ["h1", "k2"], ["z2"]),
             helper.make_node("Add", ["z2", "b2"], ["output"])]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("input", ELEM[dtype], [batch, 3])],
        [helper.make_tensor_value_info("output", ELEM[dtype], [output_batch or batch, 2])],
        [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (k2, "k2"), (b2, "b2"))])
    model = helper.make_model(graph, ir_version=ir_version, opset_imports=[helper.make_opsetid("", opset)])
    x = rng.uniform(-2, 2, (4, 3)).astype(np_dtype)
    predictions = (np.maximum(x.astype(np.float64) @ w1.T.astype(np.float64) + b1, 0) @ k2 + b2)
    expect = dict(dtype=dtype, ir_version=ir_version, opset=opset, input_name="input", output_name="output",
                  inputs=x.tolist(), predictions=predictions.tolist(), tolerance=1e-6 if dtype == "float32" else 1e-12)
    return model, expect


def save(folder, name, model, external=False):
    path = os.path.join(folder.path, name + ".onnx")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=name + ".onnx.data", size_threshold=0)
    else:
        onnx.save_model(model, path)
    return path


def helper_cases(folder):
    for name, kwargs, external in (("float32_opset17", {}, False), ("float64_opset17", {"dtype": "float64"}, False),
                                   ("float32_opset20_ir9", {"opset": 20, "ir_version": 9}, False),
                                   ("float32_external", {}, True)):
        model, expect = mlp(seed=len(name), **kwargs)
        save(folder, name, model, external)
        folder.describe(name, expect)

    def wrong(name, change=None, **kwargs):
        model, expect = mlp(seed=len(name), **kwargs)
        if change:
            change(model, expect)
        save(folder, name, model)
        folder.describe(name, expect)

    def nudge(amount):
        return lambda m, e: e["predictions"][1].__setitem__(0, e["predictions"][1][0] + amount)
    wrong("bad_prediction", nudge(1e-4))
    wrong("bad_float64_prediction", nudge(1e-10), dtype="float64")
    wrong("bad_opset", lambda m, e: e.__setitem__("opset", 18))
    wrong("bad_ir_version", lambda m, e: e.__setitem__("ir_version", 9))
    wrong("bad_dtype", lambda m, e: e.update(dtype="float64", tolerance=1e-12))
    wrong("bad_input_name", lambda m, e: e.__setitem__("input_name", "x"))
    wrong("bad_static_batch", batch=4)
    wrong("bad_static_output_batch", output_batch=4)
    wrong("bad_tolerance", lambda m, e: e.__setitem__("tolerance", 1e-3))
    wrong("bad_checker", lambda m, e: m.graph.node[1].input.__setitem__(0, "undefined_tensor"))

    model, expect = mlp(seed=1)  # external data, but its file is not where the model says
    save(folder, "bad_external_missing", model, external=True)
    os.remove(os.path.join(folder.path, "bad_external_missing.onnx.data"))
    folder.describe("bad_external_missing", expect)

    # output = input − mean over the batch: right in one batch, zero row by row.
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[0], keepdims=1),
         helper.make_node("Sub", ["input", "mean"], ["output"])], "batch_dependent",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 2])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 2])])
    x = np.array([[1.0, 2.0], [3.0, 5.0]], np.float32)
    save(folder, "bad_batch_dependent", helper.make_model(graph, ir_version=8,
                                                          opset_imports=[helper.make_opsetid("", 17)]))
    folder.describe("bad_batch_dependent", dict(dtype="float32", ir_version=8, opset=17, input_name="input",
                                                output_name="output", inputs=x.tolist(),
                                                predictions=(x - x.mean(axis=0)).tolist(), tolerance=1e-6))

    model, expect = mlp(seed=2)
    save(folder, "bad_orphan", model)  # no expect.json
    folder.wrong.add("bad_orphan.onnx")
    folder.describe("bad_missing_file", expect)  # an expect.json, no file


def fixture_cases(folder):
    """fixtures/onnx's accepted [batch, n] files, described with onnxruntime's outputs as the predictions."""
    with open(os.path.join(FIXTURES, "expected.json")) as handle:
        models = json.load(handle)["models"]
    count = 0
    for m in models:
        if not m["mlpconv"]["accept"] or len(m["inputs"][0]["shape"]) != 2:
            continue
        name = "fixture_" + m["file"][:-len(".onnx")].replace(".", "_")
        shutil.copy(os.path.join(FIXTURES, m["file"]), os.path.join(folder.path, name + ".onnx"))
        if m["external_data_file"]:  # the location inside the model names the fixture's data file
            shutil.copy(os.path.join(FIXTURES, m["external_data_file"]),
                        os.path.join(folder.path, m["external_data_file"]))
        folder.describe(name, dict(dtype=m["dtype"], ir_version=m["ir_version"], opset=m["opset"],
                                   input_name=m["inputs"][0]["name"], output_name=m["outputs"][0]["name"],
                                   inputs=m["x"], predictions=m["onnxruntime_outputs"],
                                   tolerance=1e-6 if m["dtype"] == "float32" else 1e-12))
        count += 1
    assert count >= 20, f"only {count} fixtures described"


def run(path):
    return subprocess.run([sys.executable, CHECK, path], capture_output=True, text=True)


def main():
    folder = Folder(tempfile.mkdtemp(prefix="onnx-interop-selftest-"))
    empty = tempfile.mkdtemp(prefix="onnx-interop-selftest-empty-")
    try:
        helper_cases(folder)
        fixture_cases(folder)
        result = run(folder.path)
        empty_result = run(empty)
        missing_result = run(os.path.join(empty, "missing"))
    finally:
        shutil.rmtree(folder.path)
        shutil.rmtree(empty)
    print(result.stdout + result.stderr, end="")
    lines = result.stdout.splitlines()
    passed = {m.group(1) for m in (re.match(r"ok +(\S+):", line) for line in lines) if m}
    failed = {m.group(1) for m in (re.match(r"FAIL +(\S+):", line) for line in lines) if m}
    problems = [f"{n} passed" for n in sorted(folder.wrong - failed)]
    problems += [f"{n} failed" for n in sorted(folder.right - passed)]
    summary = f"onnx: {len(folder.right)} passed, {len(folder.wrong)} failed"
    if result.returncode != 1 or summary not in lines:
        problems.append(f"exit {result.returncode}, no line {summary!r}")
    for what, other in (("an empty folder", empty_result), ("a missing folder", missing_result)):
        print(f"{what}: exit {other.returncode}; " + " / ".join(other.stdout.splitlines()))
        if other.returncode != 1 or "onnx: 0 passed, 1 failed" not in other.stdout.splitlines():
            problems.append(f"{what} did not fail")
    if problems:
        print("selftest FAILED: " + "; ".join(problems))
        return 1
    print(f"selftest: the check passed the {len(folder.right)} right files and failed the {len(folder.wrong)} "
          f"wrong ones, an empty folder and a missing one")
    return 0


if __name__ == "__main__":
    sys.exit(main())
