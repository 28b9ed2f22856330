#!/usr/bin/env python3
"""`mlpconv finetune` against Keras 3 `fit` on the same model, data and settings, in the same run.

    KERAS_BACKEND=jax python Benchmarks/finetune_peers.py --mlpconv .build-bench/release/mlpconv \
        [--threads 1 2] [--rounds 3] [--rows 20000] [--dir /tmp/finetune-bench] [--json-out results.json]

The model is mnist-mlp (784-512 relu-256 relu-10 softmax, Adam at Keras's defaults, categorical cross-entropy),
built and saved as `.keras` by Keras after one training step (so the file carries every Adam slot); the data is
--rows rows of uniform features in [-1, 1) and one-hot classes, as `.npz` (x float32, y float32). Batch 128,
shuffled, one epoch = --rows samples.

Per thread count and round, each in its own child process (peers.py's run_child: OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE removed, OPENBLAS_NUM_THREADS/OMP_NUM_THREADS = N, one-thread children pinned to CPU 0):
  - Keras: load the .keras file, `fit` 1 epoch (compiles), then `fit` 2 more; the rate is the samples of those two
    epochs over their wall time;
  - mlpconv: `mlpconv finetune model.keras --data d.npz --epochs 1` and `--epochs 3` (whole commands); the rate is
    2 epochs' samples over the difference of the two wall times (what the extra epochs cost, as for Keras), and
    the fixed costs are what `--json` reports as `phase_seconds` (loading, the evaluations before and after,
    saving) next to the 1-epoch run's training seconds.
Needs keras (JAX backend), jax and numpy.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from peers import child_env, run_child  # noqa: E402

WIDTHS = (784, 512, 256, 10)
BATCH = 128


def prepare(folder, rows):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (rows, WIDTHS[0])).astype(np.float32)
    y = np.eye(WIDTHS[-1], dtype=np.float32)[rng.integers(0, WIDTHS[-1], rows)]
    np.savez(folder / "data.npz", x=x, y=y)
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((WIDTHS[0],)), keras.layers.Dense(WIDTHS[1], activation="relu"),
                              keras.layers.Dense(WIDTHS[2], activation="relu"),
                              keras.layers.Dense(WIDTHS[3], activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:BATCH], y[:BATCH], batch_size=BATCH, epochs=1, verbose=0)
    model.save(folder / "model.keras")


def keras_worker(folder):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np
    data = np.load(folder / "data.npz")
    x, y = data["x"], data["y"]
    model = keras.models.load_model(folder / "model.keras")
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=True, verbose=0)
    seconds = time.perf_counter() - start
    print(json.dumps({"implementation": "keras", "samples_per_second": 2 * len(x) / seconds}))


def mlpconv_run(mlpconv, folder, epochs, threads):
    output = folder / f"out-{epochs}.keras"
    if output.exists():
        output.unlink()
    cmd = [mlpconv, "finetune", str(folder / "model.keras"), "--data", str(folder / "data.npz"), "--output",
           str(output), "--epochs", str(epochs), "--batch-size", str(BATCH), "--json"]
    pin = ["taskset", "-c", "0"] if threads == 1 else []
    start = time.perf_counter()
    proc = subprocess.run(pin + cmd, env=child_env(threads), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return seconds, json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mlpconv", default=".build-bench/release/mlpconv")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--dir", default="/tmp/mlpconv-finetune-bench")
    ap.add_argument("--json-out")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    folder = pathlib.Path(args.dir)
    if args.worker:
        return keras_worker(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not pathlib.Path(args.mlpconv).exists():
        raise SystemExit(f"{args.mlpconv} not found: swift build -c release --product mlpconv --scratch-path .build-bench")
    prepare(folder, args.rows)
    print(f"- load average at the start: {os.getloadavg()[0]:.2f}")
    rows, raw = [], []
    for threads in args.threads:
        for round_ in range(1, args.rounds + 1):
            keras_rate = run_child([sys.executable, __file__, "--worker", "--dir", str(folder)], threads)[0][0][
                "samples_per_second"]
            one, summary = mlpconv_run(args.mlpconv, folder, 1, threads)
            three, _ = mlpconv_run(args.mlpconv, folder, 3, threads)
            rate = 2 * args.rows / (three - one)
            fixed = sum(summary["phase_seconds"].values())
            training = summary["seconds"]
            rows.append((threads, round_, rate, keras_rate, training, fixed))
            raw.append({"threads": threads, "round": round_, "mlpconv_samples_per_second": rate,
                        "keras_samples_per_second": keras_rate, "one_epoch_seconds": training,
                        "phase_seconds": summary["phase_seconds"], "wall_1_epoch": one, "wall_3_epochs": three})
    print(f"- load average at the end: {os.getloadavg()[0]:.2f}\n")
    print("| threads | round | mlpconv finetune samples/s | Keras fit samples/s | mlpconv / Keras | 1 epoch s | "
          "fixed costs s | fixed / epoch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threads, round_, rate, keras_rate, training, fixed in rows:
        print(f"| {threads} | {round_} | {rate:,.0f} | {keras_rate:,.0f} | {rate / keras_rate:.2f} | {training:.2f} | "
              f"{fixed:.2f} | {fixed / training:.2f} |")
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
