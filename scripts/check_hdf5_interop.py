#!/usr/bin/env python3
"""Reads the native HDF5 model files a test run left in a folder (MLPCONV_INTEROP_DIR) with h5py alone and
checks them against the `<file>.expected` (JSON, named so that scripts/interop_check.py's `*.json` glob skips it)
written beside each: format attributes, the architecture text
and its CRC-32C, every tensor's dtype, shape, bytes and CRC-32C, the optimizer name and step, the loss, the
metadata, and that /weights and /optimizer hold nothing else.

Usage: check_hdf5_interop.py FOLDER   (exit status 1 on any mismatch, 2 when the folder holds no files)
Needs h5py and numpy only; CRC-32C is computed here (table-driven), so no extra package is required."""
import json
import pathlib
import sys

import h5py
import numpy as np

_TABLE = []
for n in range(256):
    c = n
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _TABLE.append(c)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def check(path: pathlib.Path, expected: dict) -> list:
    problems = []
    with h5py.File(path, "r") as f:
        if text(f.attrs["format"]) != "mlpconv-model":
            problems.append(f"format is {f.attrs['format']!r}")
        if int(f.attrs["format_version"]) != 1:
            problems.append(f"format_version is {f.attrs['format_version']!r}")
        architecture = text(f.attrs["architecture"])
        if architecture != expected["architecture"]:
            problems.append("architecture text differs")
        if crc32c(architecture.encode("utf-8")) != int(f.attrs["architecture_crc32c"]):
            problems.append("architecture_crc32c does not match the text")
        json.loads(architecture)

        found = set()
        f.visititems(lambda name, obj: found.add("/" + name) if isinstance(obj, h5py.Dataset) else None)
        tensors = {p for p in found if p.startswith(("/weights/", "/optimizer/"))}
        if tensors != set(expected["tensors"]):
            problems.append(f"tensor datasets differ: extra {sorted(tensors - set(expected['tensors']))}, "
                            f"missing {sorted(set(expected['tensors']) - tensors)}")
        for name, spec in expected["tensors"].items():
            if name not in f:
                continue
            dataset = f[name]
            array = dataset[()]
            dtype = {"float32": "<f4", "float64": "<f8"}[spec["dtype"]]
            if array.dtype != np.dtype(dtype) or list(array.shape) != spec["shape"]:
                problems.append(f"{name}: {array.dtype}{list(array.shape)}, expected {dtype}{spec['shape']}")
                continue
            raw = array.tobytes()
            if raw.hex() != spec["hex"]:
                problems.append(f"{name}: bytes differ")
            if crc32c(raw) != int(dataset.attrs["crc32c"]):
                problems.append(f"{name}: crc32c attribute does not match the data")

        if "optimizer" in expected:
            optimizer = f["optimizer"]
            if text(optimizer.attrs["name"]) != expected["optimizer"]["name"]:
                problems.append(f"optimizer name {optimizer.attrs['name']!r}")
            if int(optimizer.attrs["iterations"]) != expected["optimizer"]["iterations"]:
                problems.append(f"optimizer iterations {optimizer.attrs['iterations']!r}")
            if text(f["training"].attrs["loss"]) != expected["loss"]:
                problems.append(f"loss {f['training'].attrs['loss']!r}")
            history = f["training/history"][()]
            history = history.decode("utf-8") if isinstance(history, bytes) else history
            json.loads(history)
            if crc32c(history.encode("utf-8")) != int(f["training/history"].attrs["crc32c"]):
                problems.append("history crc32c does not match the text")
        elif "optimizer" in f or "training" in f:
            problems.append("unexpected /optimizer or /training")

        metadata = {key: text(value) for key, value in f["metadata"].attrs.items()} if "metadata" in f else {}
        if metadata != expected["metadata"]:
            problems.append(f"metadata {metadata!r} != {expected['metadata']!r}")
    return problems


def main() -> int:
    folder = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    files = sorted(folder.glob("hdf5-*.h5"))
    if not files:
        print(f"no hdf5-*.h5 files in {folder}", file=sys.stderr)
        return 2
    failures = 0
    for path in files:
        expected_path = path.with_name(path.name + ".expected")
        if not expected_path.exists():
            print(f"{path.name}: no {expected_path.name}")
            failures += 1
            continue
        problems = check(path, json.loads(expected_path.read_text()))
        for problem in problems:
            print(f"{path.name}: {problem}")
        failures += bool(problems)
    print(f"h5py interop: {len(files) - failures} of {len(files)} HDF5 model files match")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
