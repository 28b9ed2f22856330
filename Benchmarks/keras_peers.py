"""Keras model files: mlpconv against Keras 3 itself on the same files, in the same run.

    KERAS_BACKEND=jax python Benchmarks/keras_peers.py [--mlpbench .build-bench/release/mlpbench] [--repeats 3]
        [--dir /tmp/keras-bench]

Keras builds two Sequential models, trains one Adam step so the optimizer holds every slot, and saves each as
`.keras` and legacy `.h5`:
  - mnist: 784-512-256-10 (535k parameters; 1.6M floats with the two Adam slots);
  - wide: 1024-4096-4096-1024 (25.2M parameters; 75.5M floats, 302 MB with the slots).
Then, on those files, best of --repeats:
  - Keras: `keras.models.load_model(path)` and `model.save(path)` (same format);
  - mlpconv: `mlpbench --keras FILE` (ModelFiles.load, and ModelFiles.save to the same format; saves are atomic
    and fsync'd — Keras's are not, so mlpconv's save does strictly more work).
Note what each load gives: Keras 3 restores the whole optimizer from `.keras` but only iteration and learning rate
from `.h5` (it does not read the two Adam slots, two thirds of the bytes); mlpconv reads every slot from both and
checks member CRCs. Unset OPENBLAS_CORETYPE does not matter here (no BLAS work). Needs keras (JAX backend) and numpy.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("KERAS_BACKEND", "jax")
import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench_common import ROOT, best, ensure_mlpbench  # noqa: E402



def build(widths):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((widths[0],))]
                             + [keras.layers.Dense(w, activation="relu") for w in widths[1:-1]]
                             + [keras.layers.Dense(widths[-1])])
    model.compile(optimizer="adam", loss="mean_squared_error")
    x = np.random.default_rng(0).standard_normal((32, widths[0])).astype(np.float32)
    y = np.zeros((32, widths[-1]), np.float32)
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlpbench", default=str(ROOT / ".build-bench/release/mlpbench"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/keras-bench")
    args = parser.parse_args()
    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    ensure_mlpbench(args.mlpbench)

    print(f"Keras {keras.__version__} ({keras.backend.backend()}), numpy {np.__version__}, "
          f"{os.cpu_count()} CPUs, best of {args.repeats}")
    print("| model | format | task | Keras s | mlpconv s | Keras / mlpconv |")
    print("|---|---|---|---|---|---|")
    for name, widths in [("mnist", [784, 512, 256, 10]), ("wide", [1024, 4096, 4096, 1024])]:
        model = build(widths)
        for suffix in [".keras", ".h5"]:
            path = folder / f"{name}{suffix}"
            model.save(path)
            out = folder / f"{name}-resaved{suffix}"
            loaded = keras.models.load_model(path)
            keras_times = {
                "load": best(args.repeats, lambda: keras.models.load_model(path)),
                "save": best(args.repeats, lambda: loaded.save(out)),
            }
            result = subprocess.run([args.mlpbench, "--keras", str(path), "--repeats", str(args.repeats)],
                                    check=True, capture_output=True, text=True)
            ours = {}
            for line in result.stdout.splitlines():
                row = json.loads(line)
                ours[row["task"].rsplit("-", 1)[1]] = row["seconds"]
            for task in ["load", "save"]:
                ratio = keras_times[task] / ours[task]
                print(f"| {name} | {suffix} | {task} | {keras_times[task]:.3f} | {ours[task]:.3f} | {ratio:.1f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
