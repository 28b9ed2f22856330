"""Model-file save/load speed: mlpconv's codecs against orjson and h5py on the same files, in the same run.

    python Benchmarks/codec_peers.py [--mlpbench .build/release/mlpbench] [--repeats 3] [--dir /tmp/codec-bench]

mlpbench --codecs writes and times mnist-{array,base64}.json (784-512-256-10 with Adam state, 1.6M floats) and
big.h5 (six 4096x4096 float32 layers, 403 MB). This script then times, on those same files:
  - orjson: loads (+ numpy arrays from the tensor data) and dumps (numpy arrays serialized natively) + write;
    for base64 files twice: as handed the already-encoded strings (a plain write), and like for like with mlpconv
    (every tensor base64-encoded from its array, then the same atomic replace: temporary file, fsync, rename,
    fsync of the folder);
  - h5py: writing the same arrays to a new file and reading them back;
  - a plain memory copy of 403 MB (numpy), the floor for a load;
and peak resident memory of `mlpbench --peak-rss-load` (load) and with --convert-to (HDF5 -> HDF5).
Every save in both implementations ends with fsync, since mlpconv's writes are atomic and durable.
Needs numpy, orjson, h5py.
"""
import argparse
import base64
import json
import os
import pathlib
import subprocess

import h5py
import numpy as np
import orjson

from bench_common import best, ensure_mlpbench


def tensors_from(document):
    def decode(tensor):
        dtype = np.dtype({"float32": "<f4", "float64": "<f8"}[tensor["dtype"]])
        data = tensor["data"]
        array = np.frombuffer(base64.b64decode(data), dtype) if isinstance(data, str) else np.asarray(data, dtype)
        return array.reshape(tensor["shape"])

    arrays = [decode(t) for layer in document["weights"].values() for t in layer.values()]
    for slot in document["training"]["optimizer"]["slots"].values():
        arrays += [decode(t) for t in slot.values()]
    return arrays


def orjson_times(path, repeats):
    raw = path.read_bytes()
    load = best(repeats, lambda: tensors_from(orjson.loads(raw)))
    document = orjson.loads(raw)
    array_form = isinstance(next(iter(document["weights"].values()))["kernel"]["data"], list)

    def encode(tensor):
        array = np.asarray(tensor["data"], dtype=np.float32) if array_form else tensor["data"]
        return dict(tensor, data=array)

    prepared = dict(document, weights={name: {k: encode(t) for k, t in layer.items()}
                                       for name, layer in document["weights"].items()})

    def save():
        text = orjson.dumps(prepared, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2)
        with open(path.with_suffix(".orjson"), "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())

    if array_form:
        return save_time(save, repeats), load, None
    # The base64 save above only copies strings orjson was handed already encoded. Like for like with mlpconv's
    # save: every tensor (slots too) encoded from its array, and the same atomic, durable replace (a temporary
    # file, fsync, rename over the target, fsync of the folder).
    arrays = {}

    def from_arrays(tensor):
        key = len(arrays)
        arrays[key] = np.frombuffer(base64.b64decode(tensor["data"]), np.float32)
        return dict(tensor, data=key)

    skeleton = dict(document, weights={name: {k: from_arrays(t) for k, t in layer.items()}
                                       for name, layer in document["weights"].items()})
    training = dict(document["training"])
    optimizer = dict(training["optimizer"])
    optimizer["slots"] = {name: {k: from_arrays(t) for k, t in slot.items()} for name, slot in optimizer["slots"].items()}
    training["optimizer"] = optimizer
    skeleton["training"] = training

    def encoded(node):
        if isinstance(node, dict):
            return {k: (base64.b64encode(arrays[v]).decode() if k == "data" else encoded(v)) for k, v in node.items()}
        return node

    def atomic_save():
        target = path.with_suffix(".orjson-atomic")
        temporary = target.with_name("." + target.name + ".tmp")
        text = orjson.dumps(encoded(skeleton), option=orjson.OPT_INDENT_2)
        with open(temporary, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.rename(temporary, target)
        folder = os.open(target.parent, os.O_RDONLY)
        os.fsync(folder)
        os.close(folder)

    return save_time(save, repeats), load, save_time(atomic_save, repeats)


def save_time(save, repeats):
    return best(repeats, save)


def h5py_times(path, repeats):
    with h5py.File(path, "r") as f:
        names = [f"weights/{layer}/{kind}" for layer in f["weights"] for kind in f["weights"][layer]]
        arrays = {name: f[name][()] for name in names}
    target = path.with_name("h5py.h5")

    def save():
        with h5py.File(target, "w") as f:
            for name, array in arrays.items():
                f.create_dataset(name, data=array)
        with open(target, "rb+") as f:
            os.fsync(f.fileno())

    def load():
        with h5py.File(target, "r") as f:
            return [f[name][()] for name in names]

    save_seconds = best(repeats, save)
    return save_seconds, best(repeats, load), sum(a.nbytes for a in arrays.values())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mlpbench", default=".build/release/mlpbench")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/mlpconv-codec-bench")
    args = parser.parse_args()
    folder = pathlib.Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    ensure_mlpbench(args.mlpbench)

    ours = {}
    run = subprocess.run([args.mlpbench, "--codecs", str(folder), "--repeats", str(args.repeats)],
                         check=True, capture_output=True, text=True)
    for line in run.stdout.splitlines():
        record = json.loads(line)
        ours[record["task"]] = record["seconds"]
    rss = {}
    for task, extra in [("h5-load-peak-rss", []), ("h5-convert-peak-rss", ["--convert-to", str(folder / "converted.h5")])]:
        out = subprocess.run([args.mlpbench, "--peak-rss-load", str(folder / "big.h5")] + extra,
                             check=True, capture_output=True, text=True).stdout
        record = json.loads(out)
        rss[task] = record["peak_rss_bytes"] / record["model_bytes"]

    rows = []
    for encoding in ["array", "base64"]:
        save, load, like_for_like = orjson_times(folder / f"mnist-{encoding}.json", args.repeats)
        rows.append((f"JSON {encoding} save (1.6M floats)", ours[f"json-{encoding}-save"], "orjson", save))
        if like_for_like is not None:
            rows.append((f"JSON {encoding} save, encoding from arrays + atomic replace", ours[f"json-{encoding}-save"],
                         "orjson", like_for_like))
        rows.append((f"JSON {encoding} load", ours[f"json-{encoding}-load"], "orjson", load))
    h5_save, h5_load, nbytes = h5py_times(folder / "big.h5", args.repeats)
    rows.append(("HDF5 save (403 MB)", ours["h5-save"], "h5py", h5_save))
    rows.append(("HDF5 load", ours["h5-load"], "h5py", h5_load))
    source = np.ones(nbytes // 4, dtype=np.float32)
    copy = best(args.repeats, lambda: source.copy())

    print("| task | mlpconv s | peer | peer s | peer / mlpconv (>1: mlpconv faster) |")
    print("|---|---:|---|---:|---:|")
    for task, mine, peer, theirs in rows:
        print(f"| {task} | {mine:.3f} | {peer} | {theirs:.3f} | {theirs / mine:.2f} |")
    print(f"| memory copy of {nbytes / 1e6:.0f} MB | | numpy | {copy:.3f} | HDF5 load / copy = {ours['h5-load'] / copy:.2f} |")
    print(f"\npeak RSS / model bytes: load {rss['h5-load-peak-rss']:.2f}, HDF5 -> HDF5 conversion {rss['h5-convert-peak-rss']:.2f}")


if __name__ == "__main__":
    main()
