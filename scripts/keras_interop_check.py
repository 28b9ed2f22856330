#!/usr/bin/env python3
"""Loads every Keras file mlpconv wrote into a folder with real Keras 3 and checks it.

Usage: KERAS_BACKEND=jax python scripts/keras_interop_check.py FOLDER   (FOLDER = $MLPCONV_INTEROP_DIR/keras)

The Swift tests write copies of the files they produce into MLPCONV_INTEROP_DIR/keras when it is set
(Tests/KerasFormatTests/KerasWriterTests.swift), each with NAME.expected.json: mlpconv's predictions on fixed inputs
and, for trainable models, mlpconv's weights after one epoch (batch size 2, no shuffling) on fixed targets. For
every `*.keras` and `*keras*.h5` file in FOLDER:

- Keras loads it (`keras.models.load_model`) with the layer classes mlpconv wrote, in the dtype mlpconv wrote
  (a float64 model is checked in a process of its own with JAX's x64 mode, where Keras keeps float64 variables),
  and predicts on the same inputs, shaped as the model's input; its predictions must equal mlpconv's to 1e-6
  (relative to max(1, |y|)), or to the precision of a mixed_float16 / mixed_bfloat16 policy, which Keras computes
  in and mlpconv does not;
- for `.keras` files of compiled models: the optimizer has exactly the variables stored in the file (no "Skipping
  variable loading for optimizer" reset);
- for `.h5` files of compiled models: Keras 3 restores only the iteration and learning rate from a legacy `.h5`
  and cannot `fit()` after loading one (its own files included: "optimizer was built with 0 variables"). The
  check does what a user resuming from a `.h5` in Keras must do: a fresh optimizer from the stored config, built
  on the model, every variable assigned from `/optimizer_weights` by name (each stored name must be the name
  Keras gives that variable, in Keras's order);
- for compiled models: Keras's `fit()` on the same data then continues from the stored optimizer state; the
  iteration count must rise by the number of steps, and every variable (moving statistics included) must equal
  mlpconv's continuation to 1e-5 — except where the continuation cannot be reproduced outside Keras (Dropout's
  random masks, mixed-precision arithmetic), where only the step count is compared.
  That covers the base-optimizer settings too (use_ema, whose `fit()` ends by copying the moving averages into
  the weights; gradient_accumulation_steps, counted by Keras's raw `_iterations`; loss_scale_factor) and a
  LossScaleOptimizer around the optimizer (its own iteration, learning rate, step_counter and dynamic_scale come
  first in the file; the iteration compared is its inner optimizer's).
- the history of that epoch (when comparable): every key mlpconv recorded (the loss and the compiled metrics it
  computes) must be in Keras's history with a value within 1e-5 — from a `.keras` file under the same name; from a
  legacy `.h5`, whose metric names Keras's loader changes (`mse` → `mean_squared_error`, its own files too), the
  keys both have.

Keras 3.15.1 cannot compile a Lamb model from a legacy `.h5`, its own files included (KERAS_H5_UNLOADABLE): such a
file must fail with exactly that error, and is then loaded uncompiled and checked for its predictions alone.
An unnamed optimizer variable (Nadam's `u_product`, `variable` in mlpconv's files) matches Keras's `variable_<n>`.

Exits non-zero when any file fails.
"""
import io
import json
import os
import re
import subprocess
import sys
import warnings
import zipfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402


def stored_keras_optimizer(path):
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as h5:
        if "optimizer" not in h5 or "vars" not in h5["optimizer"]:
            return None
        group = h5["optimizer/vars"]
        return [np.array(group[str(i)]) for i in range(len(group))]


def unnamed(name):
    """Keras names a variable created without a name (Nadam's u_product) `variable`, `variable_1`, … by how many
    such variables the session made before; mlpconv writes `variable`. Compared by position, not by number."""
    return "variable" if re.fullmatch(r"variable(_\d+)?", name) else name


def restore_h5_optimizer(model, path):
    """Replaces the optimizer Keras loaded from a legacy .h5 by one holding every stored variable."""
    with h5py.File(path, "r") as h5:
        group = h5["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
        values = [np.array(group[name]) for name in names]
    loaded = model.optimizer
    # The optimizer's own counter variable: with gradient accumulation `iterations` is that divided by the steps,
    # and a LossScaleOptimizer's own (never advanced) comes first; Keras's legacy loader restores that one.
    counter = loaded._iterations
    stored_iterations = int(values[names.index(counter.path)])
    if int(counter) != stored_iterations:
        raise AssertionError(f"Keras restored iteration {int(counter)}, the file holds {stored_iterations}")
    optimizer = type(loaded).from_config(loaded.get_config())
    model.compile(optimizer=optimizer, loss=model.loss)
    optimizer.build(model.trainable_variables)
    paths = [variable.path for variable in optimizer.variables]
    if [unnamed(p) for p in paths] != [unnamed(n) for n in names]:
        raise AssertionError(f"/optimizer_weights names {names} are not Keras's {paths}")
    for variable, value in zip(optimizer.variables, values):
        variable.assign(value)
    return len(values)


def raw_iterations(optimizer):
    """The update counter mlpconv stores: Keras's `_iterations` of the optimizer that updates the weights (inside a
    LossScaleOptimizer, the inner one), which counts every step also under gradient accumulation."""
    return int(getattr(optimizer, "inner_optimizer", optimizer)._iterations)


def assert_close(what, actual, expected, tolerance):
    actual = np.asarray(actual, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: Keras has {actual.size} values, mlpconv {expected.size}")
    error = float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected)), initial=0.0))
    if not error <= tolerance:
        raise AssertionError(f"{what}: Keras and mlpconv differ by {error:.3g} (tolerance {tolerance:g})")
    return error


def h5_optimizer_class(path):
    with h5py.File(path, "r") as h5:
        if "training_config" not in h5.attrs:
            return None
        return json.loads(h5.attrs["training_config"])["optimizer_config"]["class_name"]


# Legacy .h5 optimizers Keras 3.15.1 cannot compile, its own files included (Lamb is missing from
# keras.optimizers.ALL_OBJECTS, which the legacy loader looks class names up in): such files must fail with exactly
# this error, and are then checked without compiling (predictions only).
KERAS_H5_UNLOADABLE = {"Lamb": "Could not interpret optimizer identifier: lamb"}


def inputs(expected, dtype=np.float32):
    return np.asarray(expected["x"], dtype=dtype).reshape([expected["rows"]] + expected.get("input_shape", [expected["input_width"]]))


def check(path):
    with open(path + ".expected.json") as handle:
        expected = json.load(handle)
    if expected.get("dtype_policy") == "float64" and not jax_x64():
        # Without x64 JAX silently computes "float64" in float32: such a file is checked by a process of its own.
        result = subprocess.run([sys.executable, __file__, "--one", path], capture_output=True, text=True,
                                env=dict(os.environ, JAX_ENABLE_X64="1"))
        if result.returncode != 0:
            raise AssertionError((result.stdout + result.stderr).strip().splitlines()[-1])
        return result.stdout.strip() + " (with x64)"
    known = KERAS_H5_UNLOADABLE.get(h5_optimizer_class(path)) if path.endswith(".h5") else None
    if known is not None:
        try:
            keras.models.load_model(path)
        except ValueError as error:
            if str(error) != known:
                raise
        else:
            raise AssertionError(f"Keras now loads this file; remove it from KERAS_H5_UNLOADABLE ({known})")
        model = keras.models.load_model(path, compile=False)
        error = assert_close("predictions", model.predict(inputs(expected), verbose=0), expected["predictions"], 1e-6)
        return f"predictions within {error:.1e}; Keras cannot compile it ({known}), as with its own files"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.models.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    if skipped:
        raise AssertionError("Keras reset state: " + "; ".join(skipped))
    shape = expected.get("input_shape", [expected["input_width"]])
    if list(model.inputs[0].shape[1:]) != shape:
        raise AssertionError(f"Keras model takes inputs of shape {model.inputs[0].shape[1:]}, mlpconv's {shape}")
    classes = [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if "layer_classes" in expected and classes != expected["layer_classes"]:
        raise AssertionError(f"Keras built layers {classes}, mlpconv wrote {expected['layer_classes']}")
    policy = expected.get("dtype_policy", "float32")
    variable_dtype = "float64" if policy == "float64" else "float32"
    wrong = [f"{w.path} {w.dtype}" for w in model.weights if w.dtype != variable_dtype]
    wrong += [f"{layer.name} {layer.dtype_policy.name}" for layer in model.layers
              if type(layer).__name__ != "InputLayer" and layer.dtype_policy.name != policy]
    if wrong:
        raise AssertionError(f"Keras loaded {wrong}; mlpconv wrote {policy} layers with {variable_dtype} variables")
    x = inputs(expected, np.float64 if policy == "float64" else np.float32)
    y = model.predict(x, verbose=0)
    error = assert_close("predictions", y, expected["predictions"], expected.get("prediction_tolerance", 1e-6))
    notes = [f"{policy} predictions within {error:.1e}"]
    continuation = expected.get("continuation")
    if continuation is None or getattr(model, "optimizer", None) is None:
        if continuation is not None:
            raise AssertionError("mlpconv saw a compiled model, Keras loaded none")
        return ", ".join(notes)
    if path.endswith(".keras"):
        stored = stored_keras_optimizer(path)
        if stored is not None:
            variables = model.optimizer.variables
            if len(variables) != len(stored):
                raise AssertionError(f"optimizer has {len(variables)} variables, the file {len(stored)}")
            for index, (variable, value) in enumerate(zip(variables, stored)):
                if not np.array_equal(np.asarray(variable), value.astype(np.asarray(variable).dtype)):
                    raise AssertionError(f"optimizer variable {index} ({variable.path}) differs from the file")
            notes.append(f"{len(stored)} optimizer variables restored")
    else:
        notes.append(f"{restore_h5_optimizer(model, path)} optimizer variables assigned by name")
    targets = np.asarray(continuation["y"], dtype=x.dtype).reshape(expected["rows"], continuation["target_width"])
    # A loss compiled by name is its name; a loss object (from_logits, label smoothing) has the name in .name.
    if getattr(model.loss, "name", model.loss) == "sparse_categorical_crossentropy":
        targets = targets.astype(np.int32)
    history = model.fit(x, targets, epochs=continuation["epochs"], batch_size=continuation["batch_size"], verbose=0,
                        shuffle=False).history
    iterations = raw_iterations(model.optimizer)
    iterations_before = continuation["iterations_before"]
    if policy == "mixed_float16" and isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        # In float16 the scaled gradients can overflow, and the loss scale then skips the step (its inner optimizer
        # does not count it); mlpconv computes in float32, where they do not.
        if not iterations_before <= iterations <= continuation["iterations_after"]:
            raise AssertionError(f"fit() ended at iteration {iterations}, not between {iterations_before} and "
                                 f"mlpconv's {continuation['iterations_after']}")
    elif iterations != continuation["iterations_after"]:
        raise AssertionError(f"fit() ended at iteration {iterations}, mlpconv at {continuation['iterations_after']}")
    if not continuation.get("reproducible", True):
        notes.append(f"{type(model.optimizer).__name__} fit() continues to iteration {iterations} (Dropout masks or "
                     f"mixed precision: not comparable)")
        return ", ".join(notes)
    weights = model.get_weights()
    if len(weights) != len(continuation["weights"]):
        raise AssertionError(f"Keras has {len(weights)} weight tensors, mlpconv {len(continuation['weights'])}")
    worst = max(assert_close(f"weight {i} after fit()", w, e, 1e-5)
                for i, (w, e) in enumerate(zip(weights, continuation["weights"])))
    notes.append(f"{type(model.optimizer).__name__} continuation within {worst:.1e} of mlpconv's")
    recorded = continuation.get("history", {})
    keys = [k for k in recorded if path.endswith(".keras") or k in history]
    missing = [k for k in keys if k not in history]
    if missing:
        raise AssertionError(f"Keras's history lacks {missing} (it has {sorted(history)})")
    if keys:
        gap = max(assert_close(f"history {k}", np.asarray(history[k][-1]), [recorded[k]], 1e-5) for k in keys)
        notes.append(f"{len(keys)} history values within {gap:.1e}")
    return ", ".join(notes)


def jax_x64():
    import jax
    return bool(jax.config.jax_enable_x64)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(check(sys.argv[2]))
        return 0
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = sys.argv[1]
    files = sorted(name for name in os.listdir(folder)
                   if name.endswith(".keras") or (name.endswith(".h5") and "keras" in name))
    failures = 0
    for name in files:
        try:
            print(f"ok   {name}: {check(os.path.join(folder, name))}")
        except Exception as error:  # report every file, then fail
            failures += 1
            print(f"FAIL {name}: {type(error).__name__}: {error}")
    print(f"{len(files) - failures}/{len(files)} files passed")
    return 1 if failures or not files else 0


if __name__ == "__main__":
    sys.exit(main())
