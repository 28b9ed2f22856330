#!/usr/bin/env python3
"""Training throughput of mlpconv (Sources/mlpbench) next to numpy, JAX and PyTorch on the same workloads.

Each implementation runs in its own child process per thread count (BLAS and XLA fix their thread pools at
start-up). See Benchmarks/README.md.
"""
import argparse, json, os, re, subprocess, sys, time

from bench_common import print_machine_facts

# Keep in step with Workload.all in Sources/mlpbench/MLPBench.swift.
WORKLOADS = {
    "mnist-mlp": dict(inputs=784, layers=[(512, "relu"), (256, "relu"), (10, "softmax")], loss="cce", batch=128, steps=60),
    "tiny-b1": dict(inputs=4, layers=[(8, "relu"), (3, "softmax")], loss="cce", batch=1, steps=20_000),
    "tiny-b32": dict(inputs=4, layers=[(8, "relu"), (3, "softmax")], loss="cce", batch=32, steps=5_000),
    "wide": dict(inputs=1024, layers=[(4096, "relu"), (4096, "relu"), (1024, "linear")], loss="mse", batch=256, steps=4),
}
LR, B1, B2, EPS = 1e-3, 0.9, 0.999, 1e-7  # Keras's Adam defaults; eps is added outside the sqrt.
PEERS = ("numpy", "jax", "torch")
HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- data and initial weights (shared by all peers)

def synthetic(spec, seed=2024):
    """Uniform features in [-1, 1); one-hot classes or uniform regression targets."""
    import numpy as np
    rng, rows, outputs = np.random.default_rng(seed), spec["batch"] * spec["steps"], spec["layers"][-1][0]
    x = rng.uniform(-1, 1, (rows, spec["inputs"])).astype(np.float32)
    if spec["loss"] == "cce":
        t = np.zeros((rows, outputs), np.float32)
        t[np.arange(rows), rng.integers(0, outputs, rows)] = 1
    else:
        t = rng.uniform(-1, 1, (rows, outputs)).astype(np.float32)
    return x, t


def initial_params(spec, seed=42):
    """Glorot-uniform kernels [n_in, n_out] (Keras's layout) and zero biases."""
    import numpy as np
    rng, params, n_in = np.random.default_rng(seed), [], spec["inputs"]
    for n_out, _ in spec["layers"]:
        limit = (6 / (n_in + n_out)) ** 0.5
        params.append((rng.uniform(-limit, limit, (n_in, n_out)).astype(np.float32), np.zeros(n_out, np.float32)))
        n_in = n_out
    return params


# ---------------------------------------------------------------- numpy: hand-written backprop (docs/numerics.md)

class NumpyMLP:
    def __init__(self, spec, params, x, t):
        import numpy as np
        self.np, self.spec, self.x, self.t, self.step_count = np, spec, x, t, 0
        # W0, b0, W1, b1, ... as views into one flat buffer, gradients likewise: Adam is 11 numpy calls a step.
        shapes, batch, f32 = [p.shape for wb in params for p in wb], spec["batch"], np.float32
        self.flat, self.flat_grad, self.m, self.v, self.tmp = (np.zeros(sum(np.prod(s) for s in shapes), f32)
                                                               for _ in range(5))
        offsets = np.cumsum([0] + [np.prod(s) for s in shapes])
        views = lambda flat: [flat[a:b].reshape(s) for a, b, s in zip(offsets, offsets[1:], shapes)]
        self.params, self.grads = views(self.flat), views(self.flat_grad)
        for view, p in zip(self.params, (p for wb in params for p in wb)):
            view[...] = p
        self.xb = np.empty((batch, spec["inputs"]), f32)
        self.tb = np.empty((batch, spec["layers"][-1][0]), f32)
        self.y = [np.empty((batch, n), f32) for n, _ in spec["layers"]]     # Z, then f(Z) in place
        self.dy = [np.empty((batch, n), f32) for n, _ in spec["layers"]]    # ∇Z of each layer
        self.mask = [np.empty((batch, n), bool) for n, _ in spec["layers"]]

    def step(self, rows):
        np, spec, batch = self.np, self.spec, len(rows)
        self.x.take(rows, axis=0, out=self.xb)
        self.t.take(rows, axis=0, out=self.tb)
        layer_in = self.xb
        for l, (_, act) in enumerate(spec["layers"]):                      # Z = X @ W + b; Y = f(Z)
            z = self.y[l]
            np.matmul(layer_in, self.params[2 * l], out=z)
            z += self.params[2 * l + 1]
            if act == "relu":
                np.maximum(z, 0, out=z)
            elif act == "softmax":
                z -= z.max(axis=1, keepdims=True)
                np.exp(z, out=z)
                z /= z.sum(axis=1, keepdims=True)
            layer_in = z
        y, dz = self.y[-1], self.dy[-1]
        np.subtract(y, self.tb, out=dz)
        if spec["loss"] == "cce":                                            # softmax + CCE: ∇Z = (Y − T)/B
            loss = -float(np.vdot(self.tb, np.log(y.clip(EPS, 1 - EPS)))) / batch
            dz *= 1 / batch
        else:                                                                # linear + MSE: ∇Z = 2(Y − T)/(B·n)
            loss = float(np.vdot(dz, dz)) / dz.size
            dz *= 2 / dz.size
        for l in reversed(range(len(spec["layers"]))):
            dz, layer_in = self.dy[l], (self.y[l - 1] if l else self.xb)
            np.matmul(layer_in.T, dz, out=self.grads[2 * l])                 # ∇W = Xᵀ @ ∇Z
            np.add.reduce(dz, 0, out=self.grads[2 * l + 1])                  # ∇b = Σ rows ∇Z
            if l:                                                            # ∇X = ∇Z @ Wᵀ, then ⊙ relu'(Z)
                np.matmul(dz, self.params[2 * l].T, out=self.dy[l - 1])
                np.greater(self.y[l - 1], 0, out=self.mask[l - 1])
                np.multiply(self.dy[l - 1], self.mask[l - 1], out=self.dy[l - 1])
        self.adam()
        return loss

    def adam(self):
        np = self.np
        self.step_count += 1
        alpha = LR * (1 - B2 ** self.step_count) ** 0.5 / (1 - B1 ** self.step_count)
        p, g, m, v, tmp = self.flat, self.flat_grad, self.m, self.v, self.tmp
        np.subtract(g, m, out=tmp); tmp *= 1 - B1; m += tmp                # m += (g − m)(1 − β1)
        np.multiply(g, g, out=tmp); tmp -= v; tmp *= 1 - B2; v += tmp      # v += (g² − v)(1 − β2)
        np.sqrt(v, out=tmp); tmp += EPS; np.divide(m, tmp, out=tmp)        # w −= α·m/(√v + ε)
        tmp *= alpha; p -= tmp

    def epoch(self, order):
        batch = self.spec["batch"]
        for start in range(0, len(order), batch):
            self.step(order[start:start + batch])


# ---------------------------------------------------------------- JAX: jit of the whole step (gradients by autodiff)

class JaxMLP:
    def __init__(self, spec, params, x, t):
        import jax, jax.numpy as jnp
        self.jax, self.spec = jax, spec
        acts = [a for _, a in spec["layers"]]

        def loss_fn(p, xb, tb):
            h = xb
            for (w, b), act in zip(p, acts):
                h = h @ w + b
                h = jax.nn.relu(h) if act == "relu" else jax.nn.softmax(h, axis=1) if act == "softmax" else h
            if spec["loss"] == "cce":
                return -jnp.sum(tb * jnp.log(jnp.clip(h, EPS, 1 - EPS))) / xb.shape[0]
            return jnp.mean((h - tb) ** 2)

        def step(state, x_all, t_all, rows):
            p, m, v, n = state
            loss, g = jax.value_and_grad(loss_fn)(p, x_all[rows], t_all[rows])
            n = n + 1
            alpha = LR * jnp.sqrt(1 - B2 ** n) / (1 - B1 ** n)
            tm = jax.tree_util.tree_map
            m = tm(lambda m, g: m + (g - m) * (1 - B1), m, g)
            v = tm(lambda v, g: v + (g * g - v) * (1 - B2), v, g)
            p = tm(lambda p, m, v: p - m * alpha / (jnp.sqrt(v) + EPS), p, m, v)
            return (p, m, v, n), loss

        p = [(jnp.asarray(w), jnp.asarray(b)) for w, b in params]
        zeros = jax.tree_util.tree_map(jnp.zeros_like, p)
        self.state = (p, zeros, jax.tree_util.tree_map(jnp.zeros_like, p), jnp.zeros((), jnp.float32))
        self.x, self.t = jax.device_put(x), jax.device_put(t)
        self._step = jax.jit(step, donate_argnums=0)

    def step(self, rows):
        self.state, loss = self._step(self.state, self.x, self.t, rows)
        return loss

    def epoch(self, order):
        batch = self.spec["batch"]
        for start in range(0, len(order), batch):
            self.step(order[start:start + batch])
        self.jax.block_until_ready(self.state)


# ---------------------------------------------------------------- PyTorch: nn.Linear stack, autograd, optim.Adam

class TorchMLP:
    def __init__(self, spec, params, x, t):
        import torch
        self.torch, self.spec, layers = torch, spec, []
        for (w, b), (_, act) in zip(params, spec["layers"]):
            lin = torch.nn.Linear(*w.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(w.T.copy())); lin.bias.copy_(torch.from_numpy(b))
            layers += [lin] + ([torch.nn.ReLU()] if act == "relu" else [])   # softmax lives in cross_entropy
        self.model = torch.nn.Sequential(*layers)
        # torch adds eps to sqrt(v̂) = sqrt(v)/sqrt(1 − β2ᵗ), Keras to sqrt(v): same cost, slightly different step.
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR, betas=(B1, B2), eps=EPS)
        self.x, self.t = torch.from_numpy(x), torch.from_numpy(t)
        F = torch.nn.functional
        self.loss_fn = F.cross_entropy if spec["loss"] == "cce" else F.mse_loss

    def step(self, rows):
        rows = self.torch.as_tensor(rows, dtype=self.torch.long)
        loss = self.loss_fn(self.model(self.x[rows]), self.t[rows])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach()

    def epoch(self, order):
        batch = self.spec["batch"]
        for start in range(0, len(order), batch):
            self.step(order[start:start + batch])


TRAINERS = {"numpy": NumpyMLP, "jax": JaxMLP, "torch": TorchMLP}


def library_info(impl, threads):
    """Version and BLAS/kernel details as seen inside the worker process."""
    info = {"implementation": impl, "info": True}
    if impl == "numpy":
        import numpy
        info["version"] = numpy.__version__
        try:
            from threadpoolctl import threadpool_info
            info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads", "filepath")}
                            for d in threadpool_info() if d.get("user_api") == "blas"]
            if any(b["num_threads"] != threads for b in info["blas"]):
                info["warning"] = f"BLAS reports {[b['num_threads'] for b in info['blas']]} threads, wanted {threads}"
        except ImportError:
            info["blas"] = "threadpoolctl not installed: cannot verify OpenBLAS threads or core"
    elif impl == "jax":
        import jax, jaxlib
        info["version"] = f"jax {jax.__version__}, jaxlib {jaxlib.__version__}"
        info["blas"] = f"XLA:CPU on {jax.devices()}; XLA_FLAGS={os.environ.get('XLA_FLAGS', '(unset)')}"
    else:
        import torch
        torch.set_num_threads(threads)
        info["version"] = torch.__version__
        blas = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
        info["blas"] = f"BLAS {blas.group(1) if blas else '?'}, MKL {torch.backends.mkl.is_available()}, " \
                       f"oneDNN {torch.backends.mkldnn.is_available()}, {torch.get_num_threads()} thread(s)"
    return info


def gemm_roof(name, threads, repeats):
    """The roof: an epoch of only the GEMMs a training step needs (forward X@W; backward Xᵀ@∇Z, and ∇Z@Wᵀ below
    the first layer), same shapes and transposes, numpy's OpenBLAS into preallocated outputs. Samples/s at that
    rate is what an implementation doing nothing but its products would reach."""
    import numpy as np
    spec, rng = WORKLOADS[name], np.random.default_rng(3)
    batch, widths = spec["batch"], [spec["inputs"]] + [n for n, _ in spec["layers"]]
    x = [rng.uniform(-1, 1, (batch, w)).astype(np.float32) for w in widths]
    dz = [rng.uniform(-1, 1, (batch, w)).astype(np.float32) for w in widths]
    w = [rng.uniform(-1, 1, (a, b)).astype(np.float32) for a, b in zip(widths, widths[1:])]
    dw = [np.empty_like(k) for k in w]

    def epoch():
        for _ in range(spec["steps"]):
            for l in range(len(w)):
                np.matmul(x[l], w[l], out=x[l + 1])
            for l in reversed(range(len(w))):
                np.matmul(x[l].T, dz[l + 1], out=dw[l])
                if l:
                    np.matmul(dz[l + 1], w[l].T, out=dz[l])

    epoch()
    seconds = min(timed(epoch) for _ in range(max(repeats, 3)))
    macs = sum(a * b for a, b in zip(widths, widths[1:])) * 2 + sum(a * b for a, b in zip(widths[1:], widths[2:]))
    print(json.dumps({"implementation": "roof", "workload": name, "threads": threads,
                      "samples_per_second": batch * spec["steps"] / seconds,
                      "gflops": 2 * macs * batch * spec["steps"] / seconds / 1e9}), flush=True)


def timed(body):
    start = time.perf_counter()
    body()
    return time.perf_counter() - start


def worker(impl, names, threads, repeats):
    import numpy as np
    if impl == "roof":
        print(json.dumps(library_info("numpy", threads) | {"implementation": "roof"}), flush=True)
        for name in names:
            gemm_roof(name, threads, repeats)
        return
    print(json.dumps(library_info(impl, threads)), flush=True)
    for name in names:
        spec = WORKLOADS[name]
        x, t = synthetic(spec)
        trainer = TRAINERS[impl](spec, initial_params(spec), x, t)
        rng = np.random.default_rng(7)
        trainer.epoch(rng.permutation(len(x)).astype(np.int32))            # warm-up (and JIT compile)
        best, cpu = 0.0, 0.0
        for _ in range(repeats):
            wall0, cpu0 = time.perf_counter(), time.process_time()
            trainer.epoch(rng.permutation(len(x)).astype(np.int32))
            wall, used = time.perf_counter() - wall0, time.process_time() - cpu0
            if len(x) / wall > best:
                best, cpu = len(x) / wall, used / wall
        print(json.dumps({"implementation": impl, "workload": name, "threads": threads,
                          "samples_per_second": best, "cpu_per_wall": round(cpu, 2)}), flush=True)


# ---------------------------------------------------------------- self-test: numpy and JAX (and torch) agree

def selftest(peers):
    import numpy as np
    ok = True
    for loss, out in (("cce", (3, "softmax")), ("mse", (5, "linear"))):
        spec = dict(inputs=4, layers=[(8, "relu"), out], loss=loss, batch=6, steps=1)
        x, t = synthetic(spec, seed=1)
        rows = np.arange(6, dtype=np.int32)
        losses = {}
        for impl in peers:
            trainer = TRAINERS[impl](spec, initial_params(spec, seed=3), x, t)
            losses[impl] = [float(trainer.step(rows)) for _ in range(4)]      # [1] is the loss after one step
        print(f"selftest {loss}: " + "; ".join(f"{k} " + " ".join(f"{v:.7f}" for v in ls) for k, ls in losses.items()))
        for impl in peers:
            # torch's Adam puts eps inside the bias correction: allow 1e-4 for it, 1e-5 for JAX.
            tol = 1e-4 if impl == "torch" else 1e-5
            diff = max(abs(a - b) for a, b in zip(losses[impl], losses["numpy"]))
            if diff > tol:
                ok = False
                print(f"  MISMATCH {impl} vs numpy: {diff:.2e} > {tol}")
    print("selftest", "passed" if ok else "FAILED")
    return ok


# ---------------------------------------------------------------- driver

def child_env(threads, coretype=None):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env.update(OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               JAX_PLATFORMS="cpu")
    if threads == 1:
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") +
                            " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()
    if coretype:
        env["OPENBLAS_CORETYPE"] = coretype
    return env


def run_child(cmd, threads, coretype=None):
    pin = ["taskset", "-c", "0"] if threads == 1 else []    # XLA ignores the flags above; one core for everyone
    proc = subprocess.run(pin + cmd, env=child_env(threads, coretype), capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-3000:])
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")], proc.stdout


def available_peers():
    found = []
    for impl in PEERS:
        check = subprocess.run([sys.executable, "-c", f"import {impl}"], env=child_env(1), capture_output=True)
        if check.returncode == 0:
            found.append(impl)
        else:
            print(f"- {impl} not installed, skipped")
    return found


def machine_info(mlpbench, peers):
    print_machine_facts(mlpbench)
    for coretype in (None, "SkylakeX"):
        _, out = run_child([mlpbench, "--workload", "tiny-b32", "--repeats", "1"], 1, coretype)
        print(f"- mlpbench says: {out.splitlines()[0]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workload", nargs="+", action="extend", choices=list(WORKLOADS))
    ap.add_argument("--mlpbench", default=".build/release/mlpbench", help="built if missing")
    ap.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    ap.add_argument("--json-out", help="save every raw result here")
    ap.add_argument("--selftest", action="store_true", help="check numpy against JAX (and torch) on a tiny case")
    ap.add_argument("--worker", choices=PEERS + ("roof",), help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workload = list(dict.fromkeys(args.workload or WORKLOADS))
    if args.worker:
        return worker(args.worker, args.workload, args.threads[0], args.repeats)

    print("## Machine\n")
    peers = [p for p in available_peers() if p in args.peers]
    if args.selftest:
        return 0 if selftest(peers) else 1
    if not os.path.exists(args.mlpbench):
        scratch = os.path.dirname(os.path.dirname(os.path.abspath(args.mlpbench)))
        print(f"- building {args.mlpbench} ...", flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "mlpbench", "--scratch-path", scratch],
                       cwd=os.path.dirname(HERE), check=True, stdout=subprocess.DEVNULL)
    machine_info(args.mlpbench, peers)

    results = []
    common = [a for w in args.workload for a in ("--workload", w)] + ["--repeats", str(args.repeats)]
    for threads in args.threads:
        runs = [("mlpconv", [args.mlpbench, "--json", "--threads", str(threads)], None),
                ("mlpconv (OPENBLAS_CORETYPE=SkylakeX)", [args.mlpbench, "--json", "--threads", str(threads)], "SkylakeX")]
        runs += [(p, [sys.executable, os.path.abspath(__file__), "--worker", p, "--threads", str(threads)], None)
                 for p in peers + ["roof"]]
        for label, cmd, coretype in runs:
            print(f"- running {label}, {threads} thread(s) ...", file=sys.stderr, flush=True)
            rows, _ = run_child(cmd + common, threads, coretype)
            for row in rows:
                if row.get("info"):
                    if threads == args.threads[0]:
                        print(f"- {label} {row['version']}: {row['blas']}" + (f" WARNING {row['warning']}" if "warning" in row else ""))
                    elif "warning" in row:
                        print(f"- {label}, {threads} threads: WARNING {row['warning']}")
                    continue
                row["implementation"] = label
                results.append(row)

    labels = ["mlpconv", "mlpconv (OPENBLAS_CORETYPE=SkylakeX)"] + peers + ["roof"]
    table = {(r["workload"], r["threads"], r["implementation"]): r["samples_per_second"] for r in results}
    ratios = [(base, p) for base in labels[:2] for p in peers + ["roof"]]
    short = lambda l: "SkylakeX" if "SkylakeX" in l else l
    print("\n## Training throughput (samples/s, best of %d epochs)\n" % args.repeats)
    print("| workload | threads | " + " | ".join(labels) + " | " + " | ".join(f"{short(b)} / {p}" for b, p in ratios) + " |")
    print("|---|---:|" + "---:|" * (len(labels) + len(ratios)))
    for name in args.workload:
        for threads in args.threads:
            get = lambda l: table.get((name, threads, l))
            cells = [f"{get(l):,.0f}" if get(l) else "—" for l in labels]
            cells += [f"{get(b) / get(p):.2f}" if get(b) and get(p) else "—" for b, p in ratios]
            print(f"| {name} | {threads} | " + " | ".join(cells) + " |")
    print("\nroof: the step's GEMMs alone in numpy (its OpenBLAS), same shapes: " + ", ".join(
        f"{r['workload']} {r['threads']} thread(s) {r['gflops']:.0f} GF/s" for r in results if r["implementation"] == "roof"))
    print(f"\nLoad average {os.getloadavg()[0]:.2f} at the end.")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
