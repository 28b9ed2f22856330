#!/usr/bin/env python3
"""Loads every PyTorch-world file mlpconv wrote into a folder with real torch and safetensors, and checks it.

Usage: python scripts/torch_interop_check.py FOLDER   (FOLDER = $MLPCONV_INTEROP_DIR/torch)

The Swift tests copy each file they write into MLPCONV_INTEROP_DIR/torch when it is set, as NAME.safetensors or
NAME.pt (plus NAME.optimizer.safetensors beside a safetensors file with optimizer state), next to NAME.expect.json:

    {"file": "NAME.pt", "container": "checkpoint" | "safetensors",
     "sequential": "Sequential(Linear(4, 8), ReLU(), Linear(8, 3), Softmax(dim=-1))", "dtype": "float32" | "float64",
     "inputs": [[...], ...], "predictions": [[...], ...],          (mlpconv's predict on the inputs)
     "checkpoint_keys": ["model_state_dict", "optimizer_state_dict", "epoch", ...],     (checkpoints only)
     "optimizer": null | {"class": "Adam", "continuation": null | {
         "inputs": [[...]], "targets": [[...]] | [...], "target_dtype": "float" | "long", "loss": "CrossEntropyLoss()",
         "batch_size": 4, "epochs": 1, "weights_after": {"0.weight": [[...]], ...}}}}   (torch names and layout)

For every NAME.expect.json:

- the model is `eval(sequential)` with torch.nn's names in scope, cast to `dtype`;
- its weights load with `load_state_dict(..., strict=True)`: from `safetensors.torch.load_file` for a safetensors
  file, from `torch.load(f, weights_only=True)["model_state_dict"]` for a checkpoint (so the pickle must use only
  what torch's weights-only unpickler allows); every floating tensor must have the stated dtype;
- a checkpoint's top-level keys must be `checkpoint_keys`, in that order;
- `model.eval()` predictions on `inputs` must equal `predictions` to 1e-6 absolute (float32) or 1e-12 (float64);
- a NAME.optimizer.safetensors sibling must load with `safetensors.torch.load_file`, and each of its tensors be named
  `<slot>.<param>` for a parameter of the model, with that parameter's shape;
- a checkpoint with an optimizer: `torch.optim.<class>(model.parameters())` loads `optimizer_state_dict`; with a
  continuation, `model.train()` runs its epochs (batches in row order, the last one possibly short; zero_grad,
  loss(model(x), y).backward(), step per batch) and every parameter and buffer must equal `weights_after` (1e-5
  absolute), with exactly the same names.

Nothing is skipped silently: a model file without its expect.json, an expect.json without its file, a continuation
this script cannot reproduce (Dropout's random masks, a safetensors file) and an empty folder are failures. One line
per file (`ok` or `FAIL` with the reason), the counts of each check, and `torch: N passed, M failed`; exits 1 on any
failure. scripts/torch_interop_check_selftest.py checks this script on files torch wrote, right and deliberately wrong.
"""
import json
import math
import os
import sys

import safetensors.torch
import torch
from torch import nn
from interop_report import EXPECT_SUFFIX, check_all  # noqa: E402  (scripts/ is on sys.path)

NN_NAMES = vars(nn)
PREDICTION_TOLERANCE = {"float32": 1e-6, "float64": 1e-12}
WEIGHT_TOLERANCE = 1e-5
DTYPES = {"float32": torch.float32, "float64": torch.float64}
MODEL_SUFFIXES = (".pt", ".safetensors")
OPTIMIZER_SUFFIX = ".optimizer.safetensors"


class Counts:
    def __init__(self):
        self.predictions = self.optimizer_states = self.continuations = self.optimizer_files = 0


def max_abs_difference(what, actual, expected):
    """The largest |actual − expected|; the shapes must agree."""
    expected = torch.as_tensor(expected, dtype=torch.float64)
    actual = actual.detach().to(torch.float64)
    if tuple(actual.shape) != tuple(expected.shape):
        raise AssertionError(f"{what}: torch has shape {list(actual.shape)}, mlpconv {list(expected.shape)}")
    if actual.numel() == 0:
        return 0.0
    difference = (actual - expected).abs().max().item()
    return difference if not math.isnan(difference) else math.inf


def build_model(expected):
    dtype = expected.get("dtype")
    if dtype not in DTYPES:
        raise AssertionError(f"dtype {dtype!r} is neither float32 nor float64")
    model = eval(expected["sequential"], {"__builtins__": {}}, NN_NAMES)  # noqa: S307  (mlpconv's own description)
    if not isinstance(model, nn.Module):
        raise AssertionError(f"sequential {expected['sequential']!r} is not a torch.nn module")
    return model.to(DTYPES[dtype])


def check_dtypes(state, dtype):
    wrong = [f"{name} {tensor.dtype}" for name, tensor in state.items()
             if tensor.is_floating_point() and tensor.dtype != DTYPES[dtype]]
    if wrong:
        raise AssertionError(f"tensors not {dtype}: {', '.join(wrong)}")


def check_optimizer_file(path, model):
    """NAME.optimizer.safetensors: every tensor `<slot>.<param>` with the parameter's shape."""
    parameters = dict(model.named_parameters())
    tensors = safetensors.torch.load_file(path)
    if not tensors:
        raise AssertionError(f"{os.path.basename(path)} holds no tensors")
    for name, tensor in tensors.items():
        owners = [p for p in parameters if name.endswith("." + p) and len(name) > len(p) + 1]
        if not owners:
            raise AssertionError(f"{os.path.basename(path)}: {name} is not <slot>.<parameter> for a parameter of "
                                 f"the model ({', '.join(parameters)})")
        param = max(owners, key=len)
        if tuple(tensor.shape) != tuple(parameters[param].shape):
            raise AssertionError(f"{os.path.basename(path)}: {name} has shape {list(tensor.shape)}, the parameter "
                                 f"{param} {list(parameters[param].shape)}")
    return len(tensors)


def run_continuation(model, optimizer, continuation, dtype):
    x = torch.as_tensor(continuation["inputs"], dtype=DTYPES[dtype])
    target_dtype = {"long": torch.long, "float": DTYPES[dtype]}.get(continuation.get("target_dtype"))
    if target_dtype is None:
        raise AssertionError(f"target_dtype {continuation.get('target_dtype')!r} is neither long nor float")
    y = torch.as_tensor(continuation["targets"], dtype=target_dtype)
    if len(x) != len(y) or len(x) == 0:
        raise AssertionError(f"continuation has {len(x)} input rows and {len(y)} targets")
    batch, epochs = int(continuation["batch_size"]), int(continuation["epochs"])
    if batch < 1 or epochs < 1:
        raise AssertionError(f"batch_size {batch} and epochs {epochs} must be positive")
    loss_fn = eval(continuation["loss"], {"__builtins__": {}}, NN_NAMES)  # noqa: S307
    model.train()
    for _ in range(epochs):
        for start in range(0, len(x), batch):
            optimizer.zero_grad()
            loss_fn(model(x[start:start + batch]), y[start:start + batch]).backward()
            optimizer.step()
    return epochs * math.ceil(len(x) / batch)


def check(folder, expect_name, counts):
    with open(os.path.join(folder, expect_name)) as handle:
        expected = json.load(handle)
    name = expect_name[:-len(EXPECT_SUFFIX)]
    file = expected.get("file")
    if file not in (name + ".pt", name + ".safetensors"):
        raise AssertionError(f"\"file\" is {file!r}, not {name}.pt or {name}.safetensors")
    path = os.path.join(folder, file)
    if not os.path.exists(path):
        raise AssertionError(f"{file} is missing")
    container = expected.get("container")
    if container != ("safetensors" if file.endswith(".safetensors") else "checkpoint"):
        raise AssertionError(f"container {container!r} does not fit {file}")
    dtype = expected.get("dtype")
    model = build_model(expected)
    notes = []

    if container == "safetensors":
        state = safetensors.torch.load_file(path)
        checkpoint = None
    else:
        checkpoint = torch.load(path, weights_only=True)
        if not isinstance(checkpoint, dict):
            raise AssertionError(f"torch.load gives a {type(checkpoint).__name__}, not a dict")
        if list(checkpoint) != expected.get("checkpoint_keys"):
            raise AssertionError(f"checkpoint keys {list(checkpoint)}, mlpconv says {expected.get('checkpoint_keys')}")
        if "model_state_dict" not in checkpoint:
            raise AssertionError("the checkpoint has no model_state_dict")
        state = checkpoint["model_state_dict"]
    check_dtypes(state, dtype)
    model.load_state_dict(state, strict=True)

    model.eval()
    with torch.no_grad():
        outputs = model(torch.as_tensor(expected["inputs"], dtype=DTYPES[dtype]))
    gap = max_abs_difference("predictions", outputs, expected["predictions"])
    if not gap <= PREDICTION_TOLERANCE[dtype]:
        raise AssertionError(f"predictions differ from mlpconv's by {gap:.3g} "
                             f"(tolerance {PREDICTION_TOLERANCE[dtype]:g})")
    counts.predictions += 1
    notes.append(f"{dtype} predictions within {gap:.1e}")

    optimizer_path = os.path.join(folder, name + OPTIMIZER_SUFFIX)
    if os.path.exists(optimizer_path):
        if container != "safetensors":
            raise AssertionError(f"{name + OPTIMIZER_SUFFIX} beside a checkpoint (only a safetensors file has one)")
        notes.append(f"{check_optimizer_file(optimizer_path, model)} optimizer tensors named <slot>.<param>")
        counts.optimizer_files += 1

    described = expected.get("optimizer")
    if described is None:
        if checkpoint is not None and "optimizer_state_dict" in checkpoint:
            raise AssertionError("the checkpoint has an optimizer_state_dict, mlpconv says it has no optimizer")
        return ", ".join(notes)
    continuation = described.get("continuation")
    if container == "safetensors":
        if continuation is not None:
            raise AssertionError("a continuation for a safetensors file: this check can only resume a checkpoint")
        if not os.path.exists(optimizer_path):
            raise AssertionError(f"an optimizer is described but {name + OPTIMIZER_SUFFIX} is missing")
        return ", ".join(notes)
    if "optimizer_state_dict" not in checkpoint:
        raise AssertionError("mlpconv describes an optimizer, the checkpoint has no optimizer_state_dict")
    optimizer_class = getattr(torch.optim, str(described.get("class")), None)
    if not (isinstance(optimizer_class, type) and issubclass(optimizer_class, torch.optim.Optimizer)):
        raise AssertionError(f"{described.get('class')!r} is not a torch.optim optimizer")
    optimizer = optimizer_class(model.parameters())
    optimizer.load_state_dict(checkpoint["optimizer_state_dict"])
    # load_state_dict takes another optimizer's state without a word, filling in only the settings newer torch
    # versions added (and step() then fails on a missing one): what is still missing was never written.
    missing = [k for group in optimizer.param_groups for k in optimizer.defaults if k not in group]
    if missing:
        raise AssertionError(f"optimizer_state_dict's param_groups lack {described['class']}'s settings {missing}")
    counts.optimizer_states += 1
    notes.append(f"{described['class']} state loaded")
    if continuation is None:
        return ", ".join(notes)
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.modules()):
        raise AssertionError("a continuation of a model with Dropout: its random masks cannot be reproduced")
    steps = run_continuation(model, optimizer, continuation, dtype)
    after = continuation["weights_after"]
    state_after = model.state_dict()
    if set(state_after) != set(after):  # a JSON object's key order carries no meaning
        missing = [k for k in state_after if k not in after]
        extra = [k for k in after if k not in state_after]
        raise AssertionError(f"weights_after names differ from torch's: missing {missing}, unknown {extra}")
    worst = 0.0
    for key, tensor in state_after.items():
        gap = max_abs_difference(f"{key} after {steps} steps", tensor, after[key])
        if not gap <= WEIGHT_TOLERANCE:
            raise AssertionError(f"{key} after {steps} steps differs from mlpconv's by {gap:.3g} "
                                 f"(tolerance {WEIGHT_TOLERANCE:g})")
        worst = max(worst, gap)
    counts.continuations += 1
    notes.append(f"{steps}-step continuation within {worst:.1e}")
    return ", ".join(notes)


def one_line(error):
    """An error as one line: torch's weights-only refusal is a paragraph, whose line naming the global says why."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    reason = next((line for line in lines if "GLOBAL" in line), " ".join(lines))
    return f"{type(error).__name__}: {reason}"


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = sys.argv[1]
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    names = sorted(os.listdir(folder))
    expects = [n for n in names if n.endswith(EXPECT_SUFFIX)]
    models = [n for n in names if n.endswith(MODEL_SUFFIXES) and not n.endswith(OPTIMIZER_SUFFIX)]
    described = {n[:-len(EXPECT_SUFFIX)] for n in expects}
    orphans = [n for n in models if n.rsplit(".", 1)[0] not in described]
    orphans += [n for n in names if n.endswith(OPTIMIZER_SUFFIX) and n[:-len(OPTIMIZER_SUFFIX)] not in described]
    counts = Counts()
    passed, failed = check_all(folder, expects, orphans, lambda name: check(folder, name, counts), one_line)
    print(f"checked {counts.predictions} predictions, {counts.optimizer_states} optimizer states, "
          f"{counts.continuations} continuations, {counts.optimizer_files} optimizer files")
    print(f"torch: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
