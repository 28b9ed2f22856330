#!/usr/bin/env python3
"""Inference latency of mlpconv's predict path (`mlpbench --inference`) next to onnxruntime and numpy.

Same weights (the model file mlpbench writes), same rows, same thread count, same run; every implementation's
outputs are checked against a float64 numpy reference before it is timed. See Benchmarks/README.md.
"""
import argparse, base64, json, os, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from bench_common import print_machine_facts  # noqa: E402
from peers import run_child  # noqa: E402  (one child process per thread count, OPENBLAS_CORETYPE/L2_SIZE removed)

WORKERS = ("onnxruntime", "numpy")
ORT_RUN, ORT_BINDING = "onnxruntime", "onnxruntime (io binding)"
LABELS = ("mlpconv", ORT_RUN, ORT_BINDING, "numpy")
ACTIVATIONS = ("relu", "softmax", "linear")


# ---------------------------------------------------------------- the shared model, rows and reference

def read_model(path):
    """[(kernel [in, out], bias [out], activation)] from an mlpconv JSON document with base64 float32 tensors."""
    import numpy as np
    document = json.load(open(path))
    layers = []
    for layer in document["architecture"]["layers"]:
        kind, activation = layer.get("type", "dense"), layer.get("activation")
        if kind != "dense" or activation not in ACTIVATIONS or not layer.get("use_bias", True):
            raise SystemExit(f"{path}: layer {layer['name']}: only Dense layers with a bias and "
                             f"{'/'.join(ACTIVATIONS)} are supported here, got {kind} {activation}")
        tensors = []
        for key in ("kernel", "bias"):
            tensor = document["weights"][layer["name"]][key]
            if tensor["dtype"] != "float32" or not isinstance(tensor["data"], str):
                raise SystemExit(f"{path}: {layer['name']}/{key}: expected base64 float32 data")
            tensors.append(np.frombuffer(base64.b64decode(tensor["data"]), "<f4").reshape(tensor["shape"]))
        layers.append((tensors[0], tensors[1], activation))
    return layers


def reference_outputs(layers, x):
    """The forward pass in float64: the independent reference every implementation is checked against."""
    import numpy as np
    h = x.astype(np.float64)
    for kernel, bias, activation in layers:
        h = h @ kernel.astype(np.float64) + bias.astype(np.float64)
        if activation == "relu":
            h = np.maximum(h, 0)
        elif activation == "softmax":
            h = np.exp(h - h.max(axis=1, keepdims=True))
            h /= h.sum(axis=1, keepdims=True)
    return h


def write_onnx(layers, path):
    """Gemm (+ Relu) per layer and a final Softmax, opset 17, batch dimension dynamic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, initializers, current = [], [], "x"
    for index, (kernel, bias, activation) in enumerate(layers):
        initializers += [numpy_helper.from_array(kernel, f"kernel_{index}"), numpy_helper.from_array(bias, f"bias_{index}")]
        nodes.append(helper.make_node("Gemm", [current, f"kernel_{index}", f"bias_{index}"], [f"z_{index}"]))
        current = f"z_{index}"
        if activation != "linear":
            op = {"relu": "Relu", "softmax": "Softmax"}[activation]
            nodes.append(helper.make_node(op, [current], [f"y_{index}"], **({"axis": -1} if op == "Softmax" else {})))
            current = f"y_{index}"
    nodes[-1].output[0] = "y"
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", layers[0][0].shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", layers[-1][0].shape[1]])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="inference_peers.py")
    model.ir_version = 8  # the IR version that introduced opset 17: readable by any runtime that knows the opset
    onnx.checker.check_model(model)
    onnx.save(model, path)


# ---------------------------------------------------------------- timing (the same scheme as mlpbench --inference)

def percentile(sorted_values, fraction):
    position = fraction * (len(sorted_values) - 1)
    below, above = int(position), min(int(position) + 1, len(sorted_values) - 1)
    return sorted_values[below] + (sorted_values[above] - sorted_values[below]) * (position - below)


def timed_calls(call, seconds, minimum_calls):
    """Microseconds per call, every call timed on its own, until `seconds` passed and `minimum_calls` were made."""
    latencies, clock = [], time.perf_counter_ns
    end = clock() + seconds * 1e9
    while len(latencies) < minimum_calls or clock() < end:
        start = clock()
        call()
        latencies.append((clock() - start) / 1e3)
    return latencies


def measure(call, repeats, seconds):
    """Warm-up for `seconds` (at most 1 s, at least 10 calls), then `repeats` runs; the lowest-median run counts."""
    timed_calls(call, min(1.0, seconds), 10)
    runs = [sorted(timed_calls(call, seconds, 20)) for _ in range(repeats)]
    best = min(runs, key=lambda run: percentile(run, 0.5))
    return dict(median_us=percentile(best, 0.5), p10_us=percentile(best, 0.1), p90_us=percentile(best, 0.9),
                calls=len(best), repeat_medians_us=[round(percentile(run, 0.5), 3) for run in runs])


# ---------------------------------------------------------------- workers (one child process per thread count)

def onnxruntime_blas(ort):
    """The BLAS libraries onnxruntime's native module links: none expected, its GEMMs are its own (MLAS)."""
    import glob
    module = glob.glob(os.path.join(os.path.dirname(ort.__file__), "capi", "onnxruntime_pybind11_state*.so"))
    if not module:
        return "native module not found"
    linked = subprocess.run(["ldd", module[0]], capture_output=True, text=True).stdout
    return ", ".join(line.split()[0] for line in linked.splitlines() if "blas" in line.lower()) or "none"


def numpy_worker(args, layers, x, reference):
    import numpy as np
    from threadpoolctl import threadpool_info, threadpool_limits
    threadpool_limits(args.threads[0], user_api="blas")
    blas = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
            for d in threadpool_info() if d.get("user_api") == "blas"]
    info = {"implementation": "numpy", "info": True, "version": np.__version__, "blas": blas}
    if any(b["num_threads"] != args.threads[0] for b in blas):
        info["warning"] = f"BLAS reports {[b['num_threads'] for b in blas]} threads, wanted {args.threads[0]}"
    print(json.dumps(info), flush=True)
    cases = []
    for batch in args.batch:
        rows = np.ascontiguousarray(x[:batch])
        # Preallocated per batch size: the timed calls allocate nothing.
        buffers = [np.empty((batch, kernel.shape[1]), np.float32) for kernel, _, _ in layers]
        row_stat = np.empty((batch, 1), np.float32)

        def forward(rows=rows, buffers=buffers, row_stat=row_stat):  # bound now: the loop rebinds the names
            h = rows
            for (kernel, bias, activation), z in zip(layers, buffers):
                np.matmul(h, kernel, out=z)
                z += bias
                if activation == "relu":
                    np.maximum(z, 0, out=z)
                elif activation == "softmax":
                    np.max(z, axis=1, keepdims=True, out=row_stat)
                    z -= row_stat
                    np.exp(z, out=z)
                    np.sum(z, axis=1, keepdims=True, out=row_stat)
                    z /= row_stat
                h = z
            return h

        cases.append(("numpy", batch, forward, forward))
    check_then_time(cases, args, reference)


def onnxruntime_worker(args, layers, x, reference):
    import numpy as np
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads[0]
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(args.onnx_file, options, providers=["CPUExecutionProvider"])
    input_name, output_name = session.get_inputs()[0].name, session.get_outputs()[0].name
    print(json.dumps({"implementation": ORT_RUN, "info": True, "version": ort.__version__,
                      "blas": f"its own MLAS kernels (BLAS linked: {onnxruntime_blas(ort)}); "
                              f"providers {session.get_providers()}"}), flush=True)
    cases = []
    for batch in args.batch:
        rows = np.ascontiguousarray(x[:batch])
        feed = {input_name: rows}
        run = lambda feed=feed: session.run([output_name], feed)[0]
        cases.append((ORT_RUN, batch, run, run))
        # The least Python per call: input and a preallocated output bound once, then run_with_iobinding.
        binding, out = session.io_binding(), np.empty((batch, layers[-1][0].shape[1]), np.float32)
        binding.bind_cpu_input(input_name, rows)
        binding.bind_output(output_name, "cpu", 0, np.float32, out.shape, out.ctypes.data)
        # rows and out are default arguments so they live as long as the binding that points at them.
        bound = lambda binding=binding, rows=rows, out=out: session.run_with_iobinding(binding)

        def bound_outputs(out=out, bound=bound):
            out.fill(np.nan)
            bound()
            return out

        cases.append((ORT_BINDING, batch, bound_outputs, bound))
    check_then_time(cases, args, reference)


def check_then_time(cases, args, reference):
    """Checks every case's `outputs()` against the reference, then times each `call`, one JSON line per case."""
    import numpy as np
    differences = []
    for label, batch, outputs, _ in cases:
        difference = float(np.max(np.abs(outputs().astype(np.float64) - reference[:batch])))
        if not difference <= args.tolerance:   # also catches NaN
            raise SystemExit(f"{label}, batch {batch}: outputs differ from the reference by {difference} "
                             f"(tolerance {args.tolerance}); not timing anything")
        differences.append(difference)
    for (label, batch, _, call), difference in zip(cases, differences):
        row = dict(implementation=label, batch=batch, threads=args.threads[0], max_abs_diff=difference)
        row.update(measure(call, args.repeats, args.min_time))
        print(json.dumps(row), flush=True)


# ---------------------------------------------------------------- driver



def table(results, args):
    value = {(r["implementation"], r["batch"], r["threads"]): r for r in results}
    ratios = [("mlpconv", ORT_RUN), ("mlpconv", ORT_BINDING), ("mlpconv", "numpy")]
    cell = lambda r: f"{r['median_us']:,.1f} ({r['p10_us']:,.1f}–{r['p90_us']:,.1f})" if r else "—"
    lines = ["| batch | threads | " + " | ".join(f"{l} µs" for l in LABELS) + " | "
             + " | ".join(f"{a} / {b}" for a, b in ratios) + " |",
             "|---:|---:|" + "---:|" * (len(LABELS) + len(ratios))]
    for batch in args.batch:
        for threads in args.threads:
            get = lambda label: value.get((label, batch, threads))
            cells = [cell(get(label)) for label in LABELS]
            cells += [f"{get(a)['median_us'] / get(b)['median_us']:.2f}" if get(a) and get(b) else "—" for a, b in ratios]
            lines.append(f"| {batch} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 32, 128])
    ap.add_argument("--model", default="784-512-256-10", help="layer widths; ReLU hidden layers, softmax output")
    ap.add_argument("--seed", type=int, default=42, help="of the weights (mlpbench draws them)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--min-time", type=float, default=0.5, help="seconds of timed calls per repeat")
    ap.add_argument("--tolerance", type=float, default=1e-5, help="largest absolute difference from the reference")
    ap.add_argument("--mlpbench", default=".build-bench/release/mlpbench", help="built if missing")
    ap.add_argument("--onnx", help="time this ONNX file (e.g. mlpconv's export of the model) instead of building one")
    ap.add_argument("--workdir", help="keep the model, rows, reference and ONNX file here (default: a temporary folder)")
    ap.add_argument("--json-out", help="save every raw result here")
    ap.add_argument("--worker", choices=WORKERS, help=argparse.SUPPRESS)
    ap.add_argument("--onnx-file", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if any(b < 1 for b in args.batch) or any(t < 1 for t in args.threads) or args.repeats < 1:
        ap.error("batch sizes, thread counts and repeats must be positive")

    if args.worker:
        import numpy as np
        layers = read_model(os.path.join(args.workdir, "model.json"))
        x, reference = np.load(os.path.join(args.workdir, "x.npy")), np.load(os.path.join(args.workdir, "reference.npy"))
        worker = numpy_worker if args.worker == "numpy" else onnxruntime_worker
        return worker(args, layers, x, reference)

    import numpy as np
    mlpbench = os.path.abspath(args.mlpbench)
    if not os.path.exists(mlpbench):
        print(f"- building {args.mlpbench} ...", file=sys.stderr, flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "mlpbench", "--scratch-path",
                        os.path.dirname(os.path.dirname(mlpbench))], cwd=os.path.dirname(HERE), check=True,
                       stdout=subprocess.DEVNULL)
    workdir = args.workdir or tempfile.mkdtemp(prefix="inference-peers-")
    os.makedirs(workdir, exist_ok=True)
    model_path, x_path, reference_path = (os.path.join(workdir, name) for name in ("model.json", "x.npy", "reference.npy"))
    run_child([mlpbench, "--inference", "--model", args.model, "--seed", str(args.seed), "--save-model", model_path], 1)
    layers = read_model(model_path)
    x = np.random.default_rng(2024).uniform(-1, 1, (max(args.batch), layers[0][0].shape[0])).astype(np.float32)
    np.save(x_path, x)
    reference = reference_outputs(layers, x)
    np.save(reference_path, reference)   # float64: mlpbench reads it as float32, 6e-8 off at most
    onnx_file = os.path.abspath(args.onnx) if args.onnx else os.path.join(workdir, "model.onnx")
    if not args.onnx:
        write_onnx(layers, onnx_file)

    print("## Machine\n")
    print_machine_facts(mlpbench)
    print(f"- model {args.model} (mlpbench seed {args.seed}), ONNX file {args.onnx or 'built from the same weights by this script'}")

    results, common = [], ["--batch", *map(str, args.batch), "--repeats", str(args.repeats), "--min-time", str(args.min_time)]
    for threads in args.threads:
        runs = [("mlpconv", [mlpbench, "--inference", "--json", "--model-file", model_path, "--input", x_path,
                             "--reference", reference_path, "--tolerance", str(args.tolerance), "--threads", str(threads)])]
        runs += [(w, [sys.executable, os.path.abspath(__file__), "--worker", w, "--workdir", workdir, "--onnx-file", onnx_file,
                      "--tolerance", str(args.tolerance), "--threads", str(threads)]) for w in WORKERS]
        for label, cmd in runs:
            print(f"- running {label}, {threads} thread(s) ...", file=sys.stderr, flush=True)
            rows, _ = run_child(cmd + common, threads)
            for row in rows:
                if row.get("info"):
                    if "openblas_core" in row:
                        row["version"], row["blas"] = "(this checkout)", f"OpenBLAS core {row['openblas_core']}, {row['threads']} thread(s)"
                    if threads == args.threads[0] or "warning" in row:
                        print(f"- {row['implementation']} {row['version']}, {threads} thread(s): {row['blas']}"
                              + (f" WARNING {row['warning']}" if "warning" in row else ""))
                    continue
                results.append(row)

    print(f"\n## Latency per call, µs: median (p10–p90) of the best of {args.repeats} runs; ratios of medians\n")
    print(table(results, args))
    print(f"\nEvery implementation matched the float64 reference within {args.tolerance} before timing "
          f"(largest difference {max(r['max_abs_diff'] for r in results):.2e}). Load average "
          f"{os.getloadavg()[0]:.2f} at the end.")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
