"""Peak memory of `mlpconv convert` for every source → target format pair, as a multiple of the model's bytes.

Builds a dense model of about --size-mb megabytes of tensors (default 600 MB: ~50 M float32 parameters in
4096-wide layers, plus Adam's two slots from a one-step `mlpconv finetune` on random data), writes it in every
format mlpconv writes (json base64, json array, h5, keras-h5, .keras, safetensors, pt, onnx), then runs
`mlpconv convert A B` for every pair and measures each run's peak resident set size with os.wait4 (ru_maxrss).

The model's bytes are every tensor the source file holds, optimizer slots included, from `mlpconv inspect --json`
(parameters × dtype size, plus trainable parameters × dtype size per optimizer slot); an ONNX source holds no
optimizer state, so its ratio is against its weights alone. Converting to pt or safetensors translates the optimizer
to its torch form; to onnx drops it.

For HDF5 and .keras inputs the CLI first reads the file in a child `mlpconv read-check`, which the kernel counts
into the parent's ru_maxrss (wait4 reports the larger of the two). The child's own peak is measured by running
`mlpconv read-check model FILE LIMITS…` alone (the "read-check" column); the parent's own peak is then the wait4 value when that
is clearly larger, and otherwise the largest VmHWM sampled from /proc every 5 ms while the parent ran (marked "~",
a lower bound that misses at most the last few milliseconds).

Usage (release build; the machine is shared, so repeat and keep the smallest):

    swift build -c release --product mlpconv --scratch-path .build-bench
    .venv-bench/bin/python Benchmarks/conversion_memory.py --mlpconv .build-bench/release/mlpconv \\
        [--size-mb 600] [--repeats 1] [--work /tmp/conversion-memory] [--keep] [--json-out raw.json]

Needs numpy (the random training data) and the standard library only.
"""
import argparse
import json
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

# name → (file name, extra `convert` arguments that select it)
FORMATS = {
    "json-b64": ("model-b64.json", ["--json-tensors", "base64"]),
    "json-array": ("model-array.json", ["--json-tensors", "array"]),
    "h5": ("model.h5", []),
    "keras-h5": ("model-keras.h5", ["--to", "keras-h5"]),
    "keras": ("model.keras", []),
    "safetensors": ("model.safetensors", []),
    "pt": ("model.pt", []),
    "onnx": ("model.onnx", []),
}
# What the CLI passes its `read-check` child after the file: the default LoadLimits (file, tensor and total bytes:
# 16 GiB, 8 GiB, 16 GiB), as ModelFiles' reader-helper protocol spells them.
READ_CHECK_LIMITS = [str(16 << 30), str(8 << 30), str(16 << 30)]
# Formats whose reading the CLI first runs in a child `mlpconv read-check`.
CHILD_READ = {"h5", "keras-h5", "keras"}
DTYPE_BYTES = {"float32": 4, "float64": 8}


def layers_for(size_mb, width):
    """Dense layer widths (after an input of `width`) whose weights and Adam's two slots come to about size_mb."""
    parameters = int(size_mb * 1e6 / 12)  # float32 weight + two float32 slots
    per_layer = width * width + width
    full = max(parameters // per_layer, 1)
    rest = parameters - full * per_layer
    widths = [width] * full
    if rest > width:
        widths.append(max(rest // (width + 1), 1))
    return widths


def run_measured(argv):
    """Runs argv; returns (exit status, wait4 peak RSS in bytes, largest sampled VmHWM of the process in bytes)."""
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampled = 0
    status_path = f"/proc/{process.pid}/status"
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == process.pid:
            break
        try:
            with open(status_path) as status_file:
                match = re.search(r"^VmHWM:\s*(\d+) kB", status_file.read(), re.M)
            if match:
                sampled = max(sampled, int(match.group(1)) * 1024)
        except OSError:
            pass
        time.sleep(0.005)
    process.returncode = os.waitstatus_to_exitcode(status)
    error = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({process.returncode}): {error.strip()}")
    return process.returncode, usage.ru_maxrss * 1024, sampled


def best_run(argv, repeats):
    runs = [run_measured(argv) for _ in range(repeats)]
    return min(r[1] for r in runs), min(r[2] for r in runs)


def model_bytes(mlpconv, path):
    """All tensors the file holds, optimizer slots included, from `mlpconv inspect --json`."""
    report = json.loads(subprocess.run([mlpconv, "inspect", "--json", str(path)], check=True,
                                       capture_output=True, text=True).stdout)
    dtypes = {layer["dtype"] for layer in report["layers"] if layer["parameters"]}
    size = DTYPE_BYTES[dtypes.pop()] if len(dtypes) == 1 else 4
    weights = sum(layer["parameters"] * DTYPE_BYTES.get(layer["dtype"], 4) for layer in report["layers"])
    slots = len(report["training"]["optimizer"]["slots"]) if report.get("training") else 0
    return weights + slots * report["trainable_parameters"] * size


def machine_facts(mlpconv):
    cpu = open("/proc/cpuinfo").read()
    field = lambda key: (re.search(rf"^{key}\s*:\s*(.*)$", cpu, re.M) or [None, "?"])[1]
    memory = re.search(r"^MemTotal:\s*(\d+) kB", open("/proc/meminfo").read(), re.M)
    return {
        "cpu": field("model name"), "nproc": os.cpu_count(), "platform": platform.platform(),
        "memory_gb": round(int(memory.group(1)) / 1e6, 1) if memory else None,
        "mlpconv": os.path.realpath(mlpconv), "load_average": round(os.getloadavg()[0], 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mlpconv", required=True, help="a release mlpconv (built with --scratch-path .build-bench)")
    parser.add_argument("--size-mb", type=float, default=600, help="model size, weights plus Adam slots (default 600)")
    parser.add_argument("--width", type=int, default=4096, help="input and hidden width (default 4096)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per measurement; the smallest peak is kept")
    parser.add_argument("--work", help="folder for the model files (default: a fresh one under /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the model files afterwards")
    parser.add_argument("--formats", help="comma-separated subset of " + ",".join(FORMATS))
    parser.add_argument("--json-out", help="write the raw numbers here")
    args = parser.parse_args()
    mlpconv = os.path.realpath(args.mlpconv)
    names = args.formats.split(",") if args.formats else list(FORMATS)
    for name in names:
        if name not in FORMATS:
            parser.error(f"unknown format {name}; known: {', '.join(FORMATS)}")
    work = pathlib.Path(args.work or tempfile.mkdtemp(prefix="conversion-memory-", dir="/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    environment = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    os.environ.clear()
    os.environ.update(environment)
    try:
        # The model: init, then one Adam step on random data so the slots hold real values.
        base = work / "base.h5"
        widths = layers_for(args.size_mb, args.width)
        init = [mlpconv, "init", str(base), "--inputs", str(args.width), "--optimizer", "adam", "--seed", "1",
                "--loss", "mse", "--force"]
        for index, units in enumerate(widths):
            init += ["--layer", f"{units}:{'relu' if index < len(widths) - 1 else 'linear'}"]
        subprocess.run(init, check=True, stdout=subprocess.DEVNULL)
        generator = np.random.default_rng(1)
        data = work / "data.npz"
        np.savez(data, x=generator.standard_normal((32, args.width), dtype=np.float32),
                 y=generator.standard_normal((32, widths[-1]), dtype=np.float32))
        subprocess.run([mlpconv, "finetune", str(base), "--data", str(data), "--output", str(base), "--epochs", "1",
                        "--batch-size", "32", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        files = {}
        for name in names:
            file_name, extra = FORMATS[name]
            files[name] = work / file_name
            subprocess.run([mlpconv, "convert", str(base), str(files[name]), "--force", *extra], check=True,
                           stdout=subprocess.DEVNULL)
        sizes = {name: model_bytes(mlpconv, files[name]) for name in names}
        child = {}
        for name in names:
            if name in CHILD_READ:
                child[name] = best_run([mlpconv, "read-check", "model", str(files[name])] + READ_CHECK_LIMITS,
                                       args.repeats)[0]
        results = {}
        for source in names:
            for target in names:
                out = work / ("out-" + FORMATS[target][0])
                waited, sampled = best_run([mlpconv, "convert", str(files[source]), str(out), "--force",
                                            *FORMATS[target][1]], args.repeats)
                exact = source not in child or waited > child[source] * 1.02
                results[f"{source}->{target}"] = {"wait4_peak": waited, "sampled_peak": sampled,
                                                  "parent_peak": waited if exact else sampled, "parent_exact": exact}
                for path in work.glob("out-*"):
                    path.unlink()
                print(f"{source} -> {target}: {waited / sizes[source]:.2f}×", file=sys.stderr, flush=True)

        facts = machine_facts(mlpconv)
        print(f"Peak RSS of `mlpconv convert SOURCE TARGET` ÷ the source model's bytes (rows: source, columns: "
              f"target; model {sizes[names[0]] / 1e6:.0f} MB, {len(widths)} dense layers after {args.width} inputs, "
              f"Adam slots; best of {args.repeats}). \"~\": the parent's own peak sampled from /proc (the read-check "
              "child's was as large).\n")
        print("| source \\ target | " + " | ".join(names) + " | read-check |")
        print("|---" * (len(names) + 2) + "|")
        for source in names:
            cells = []
            for target in names:
                result = results[f"{source}->{target}"]
                mark = "" if result["parent_exact"] else "~"
                cells.append(f"{mark}{result['parent_peak'] / sizes[source]:.2f}")
            checked = f"{child[source] / sizes[source]:.2f}" if source in child else "—"
            print(f"| {source} ({sizes[source] / 1e6:.0f} MB) | " + " | ".join(cells) + f" | {checked} |")
        print()
        print(f"- CPU: {facts['cpu']}, nproc {facts['nproc']}, {facts['memory_gb']} GB")
        print(f"- {facts['platform']}, Python {platform.python_version()}")
        print(f"- mlpconv: {facts['mlpconv']}")
        print(f"- load average {facts['load_average']} at the end" +
              (" — other processes were running" if facts["load_average"] > 0.5 else ""))
        if args.json_out:
            with open(args.json_out, "w") as out:
                json.dump({"machine": facts, "model_bytes": sizes, "read_check_peak": child, "widths": widths,
                           "conversions": results, "file_bytes": {n: files[n].stat().st_size for n in names}},
                          out, indent=2)
    finally:
        if not args.keep and not args.work:
            shutil.rmtree(work, ignore_errors=True)
        elif not args.keep:
            for path in work.glob("*"):
                if path.is_file():
                    path.unlink()


if __name__ == "__main__":
    main()
