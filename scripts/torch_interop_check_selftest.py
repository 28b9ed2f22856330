#!/usr/bin/env python3
"""Tests scripts/torch_interop_check.py itself: writes a folder of interop files with torch (no mlpconv involved) and
checks that the check passes every right one and fails every wrong one, each for its own reason.

Usage, from the repository root, with torch 2.15.0 and safetensors 0.8.0 (scripts/torch-requirements.txt):

    python scripts/torch_interop_check_selftest.py

Right files: every .pt checkpoint (under the contract's keys) and .safetensors file of fixtures/torch, described in
the interop format from fixtures/torch/expected.json (torch's own predictions and continuation), and a safetensors
model with a NAME.optimizer.safetensors sibling. Wrong ones (`bad_*`): a prediction off by 1e-4, a float64 one off by
1e-10, a weight after the continuation off by 1e-4, one missing, the wrong dtype, checkpoint keys, Sequential line
and optimizer class, a continuation for a Dropout model, optimizer tensors with an unknown parameter name or the wrong
shape, a file without its expect.json and the reverse, and a pickle torch's weights-only loader refuses.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import safetensors.torch
import torch
from torch import nn

FIXTURES = "fixtures/torch"
CONTINUATION_KEYS = ("inputs", "targets", "target_dtype", "loss", "batch_size", "epochs", "weights_after")


class Folder:
    """The folder of interop files, and which of them the check must pass."""

    def __init__(self, path):
        self.path, self.right, self.wrong = path, set(), set()

    def describe(self, name, expect, copy_from=None, ext=".pt"):
        """NAME.expect.json (and the model file, when copied from elsewhere); names starting bad_ must fail."""
        if copy_from:
            shutil.copy(copy_from, os.path.join(self.path, name + ext))
        with open(os.path.join(self.path, name + ".expect.json"), "w") as handle:
            json.dump(dict(expect, file=name + ext), handle)
        (self.wrong if name.startswith("bad_") else self.right).add(name + ".expect.json")


def fixture_cases(folder):
    """Every fixture checkpoint (under the contract's keys) and safetensors file, in the interop format."""
    with open(os.path.join(FIXTURES, "expected.json")) as handle:
        models = json.load(handle)["models"]
    cases = {}
    for m in models:
        if m["container"] == "state_dict" or m.get("model_key", "model_state_dict") != "model_state_dict":
            continue
        expect = {k: m[k] for k in ("container", "sequential", "dtype", "inputs", "predictions")}
        expect["optimizer"] = None
        if m["container"] == "checkpoint":
            continuation = m["optimizer"]["continuation"]
            expect["checkpoint_keys"] = m["checkpoint_keys"]
            expect["optimizer"] = {"class": m["optimizer"]["class"], "continuation": (
                {k: continuation[k] for k in CONTINUATION_KEYS} if continuation["reproducible"] else None)}
        name, ext = os.path.splitext(m["file"])
        cases[name] = (expect, os.path.join(FIXTURES, m["file"]), ext)
        folder.describe(name, expect, os.path.join(FIXTURES, m["file"]), ext)
    return cases


def safetensors_with_optimizer(folder):
    """A safetensors model and its NAME.optimizer.safetensors sibling (Adam's slots as <slot>.<param>), by torch."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 3)).pow(2).mean().backward()
    optimizer.step()
    safetensors.torch.save_file(model.state_dict(), os.path.join(folder.path, "with_optimizer.safetensors"))
    names = [n for n, _ in model.named_parameters()]
    slots = {f"{slot}.{names[i]}": value for i, state in optimizer.state_dict()["state"].items()
             for slot, value in state.items() if slot != "step"}
    safetensors.torch.save_file(slots, os.path.join(folder.path, "with_optimizer.optimizer.safetensors"))
    model.eval()
    x = torch.randn(3, 3)
    expect = {"container": "safetensors", "sequential": "Sequential(Linear(3, 4), Tanh(), Linear(4, 2))",
              "dtype": "float32", "inputs": x.tolist(), "predictions": model(x).tolist(),
              "optimizer": {"class": "Adam", "continuation": None}}
    folder.describe("with_optimizer", expect, ext=".safetensors")
    return model, expect, slots


def wrong_cases(folder, cases, model, safetensors_expect, slots):
    def altered(case, change, name):
        expect, path, ext = cases[case]
        expect = copy.deepcopy(expect)
        change(expect)
        folder.describe(name, expect, path, ext)

    def continuation(e):
        return e["optimizer"]["continuation"]

    altered("adam_gelu_ce", lambda e: e["predictions"][1].__setitem__(0, e["predictions"][1][0] + 1e-4),
            "bad_prediction")
    altered("adam_gelu_ce", lambda e: continuation(e)["weights_after"]["2.bias"].__setitem__(
        3, continuation(e)["weights_after"]["2.bias"][3] + 1e-4), "bad_weights_after")
    altered("adam_gelu_ce", lambda e: continuation(e)["weights_after"].pop("4.bias"), "bad_weights_after_missing")
    altered("float64_adam_tanh_mse", lambda e: e["predictions"][0].__setitem__(0, e["predictions"][0][0] + 1e-10),
            "bad_float64_prediction")
    altered("float64_adam_tanh_mse", lambda e: e.__setitem__("dtype", "float32"), "bad_dtype")
    altered("sgd_relu_ce", lambda e: e["checkpoint_keys"].pop(), "bad_keys")
    altered("sgd_relu_ce", lambda e: e.__setitem__(
        "sequential", "Sequential(Linear(4, 8), ReLU(), Linear(8, 3), Softmax(dim=-1))"), "bad_sequential_softmax")
    altered("sgd_relu_ce", lambda e: e["optimizer"].__setitem__("class", "Adam"), "bad_optimizer_class")
    altered("dropout_relu_adam", lambda e: e["optimizer"].__setitem__(
        "continuation", copy.deepcopy(continuation(cases["adam_gelu_ce"][0]))), "bad_dropout_continuation")

    model_file = os.path.join(folder.path, "with_optimizer.safetensors")
    for name, tensors in [("bad_optimizer_names", {"exp_avg.0.weight": slots["exp_avg.0.weight"],
                                                   "exp_avg.9.weight": slots["exp_avg.0.weight"].clone()}),
                          ("bad_optimizer_shape", {"exp_avg.0.weight": slots["exp_avg.0.weight"].T.contiguous()})]:
        shutil.copy(model_file, os.path.join(folder.path, name + ".safetensors"))
        safetensors.torch.save_file(tensors, os.path.join(folder.path, name + ".optimizer.safetensors"))
        folder.describe(name, safetensors_expect, ext=".safetensors")
    shutil.copy(model_file, os.path.join(folder.path, "bad_orphan.safetensors"))  # no expect.json
    folder.wrong.add("bad_orphan.safetensors")
    folder.describe("bad_missing_file", safetensors_expect, ext=".safetensors")  # an expect.json, no file
    # A pickle that needs a global outside torch's weights-only list.
    torch.save({"model_state_dict": model.state_dict(), "extra": nn.ReLU()},
               os.path.join(folder.path, "bad_unsafe_pickle.pt"))
    folder.describe("bad_unsafe_pickle", dict(safetensors_expect, container="checkpoint", optimizer=None,
                                              checkpoint_keys=["model_state_dict", "extra"]))


def main():
    folder = Folder(tempfile.mkdtemp(prefix="torch-interop-selftest-"))
    try:
        cases = fixture_cases(folder)
        model, expect, slots = safetensors_with_optimizer(folder)
        wrong_cases(folder, cases, model, expect, slots)
        result = subprocess.run([sys.executable, "scripts/torch_interop_check.py", folder.path],
                                capture_output=True, text=True)
    finally:
        shutil.rmtree(folder.path)
    print(result.stdout + result.stderr, end="")
    lines = result.stdout.splitlines()
    passed = {m.group(1) for m in (re.match(r"ok +(\S+):", line) for line in lines) if m}
    failed = {m.group(1) for m in (re.match(r"FAIL +(\S+):", line) for line in lines) if m}
    problems = [f"{n} passed" for n in sorted(folder.wrong - failed)]
    problems += [f"{n} failed" for n in sorted(folder.right - passed)]
    summary = f"torch: {len(folder.right)} passed, {len(folder.wrong)} failed"
    if result.returncode != 1 or problems or summary not in lines:
        print(f"selftest FAILED: exit {result.returncode}; " + ("; ".join(problems) or f"no line {summary!r}"))
        return 1
    print(f"selftest: the check passed the {len(folder.right)} right files and failed the {len(folder.wrong)} "
          f"wrong ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
