#!/usr/bin/env python3
"""Loads every Keras file mlpconv wrote into a folder with real Keras 3 and checks it.

Usage: KERAS_BACKEND=jax python scripts/keras_interop_check.py FOLDER   (FOLDER = $MLPCONV_INTEROP_DIR/keras)

The Swift tests write copies of the files they produce into MLPCONV_INTEROP_DIR/keras when it is set
(Tests/MLPCodecsTests/KerasWriterTests.swift). For every `*.keras` and `*keras*.h5` file in FOLDER:

- Keras loads it (`keras.models.load_model`) and predicts on fixed inputs; the weights Keras holds are the ones
  in the file (read with h5py / zipfile), so predictions are Keras's own for mlpconv's weights;
- for `.keras` files of compiled models: the optimizer has the iteration count stored in the file and exactly the
  stored variables (no "Skipping variable loading for optimizer" reset), and `fit()` continues for one step,
  raising the iteration count by one;
- for `.h5` files of compiled models: `training_config` loads (Keras 3 restores only iteration and learning_rate
  from a legacy `.h5`).

Exits non-zero when any file fails.
"""
import io
import os
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


def check(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.models.load_model(path)
    skipped = [str(w.message) for w in caught if "Skipping variable loading" in str(w.message)]
    if skipped:
        raise AssertionError("Keras reset state: " + "; ".join(skipped))
    width = model.inputs[0].shape[-1]
    x = np.linspace(-1, 1, 5 * width, dtype=np.float32).reshape(5, width)
    y = model.predict(x, verbose=0)
    if not np.all(np.isfinite(y)):
        raise AssertionError("non-finite predictions")
    notes = [f"predict {y.shape}"]
    if path.endswith(".keras"):
        stored = stored_keras_optimizer(path)
        if stored is not None and getattr(model, "optimizer", None) is not None:
            variables = model.optimizer.variables
            if len(variables) != len(stored):
                raise AssertionError(f"optimizer has {len(variables)} variables, the file {len(stored)}")
            for index, (variable, value) in enumerate(zip(variables, stored)):
                if not np.array_equal(np.asarray(variable), value.astype(np.asarray(variable).dtype)):
                    raise AssertionError(f"optimizer variable {index} ({variable.path}) differs from the file")
            iterations = int(model.optimizer.iterations)
            targets = np.zeros_like(y)
            if model.loss == "sparse_categorical_crossentropy":
                targets = np.zeros((y.shape[0],), dtype=np.int32)
            model.fit(x, targets, epochs=1, batch_size=5, verbose=0, shuffle=False)
            if int(model.optimizer.iterations) != iterations + 1:
                raise AssertionError(f"fit() went from iteration {iterations} to {int(model.optimizer.iterations)}")
            notes.append(f"optimizer {type(model.optimizer).__name__}: iteration {iterations}, "
                         f"{len(stored)} variables restored, fit() continued")
    elif getattr(model, "optimizer", None) is not None:
        notes.append(f"compiled ({type(model.optimizer).__name__}, iteration {int(model.optimizer.iterations)})")
    return ", ".join(notes)


def main():
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
