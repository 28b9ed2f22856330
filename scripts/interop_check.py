"""Checks the model files a test run wrote with independent Python readers (CI runs it after the tests).

- Every *.json file validates against schemas/mlpconv-model.schema.json (jsonschema, draft 2020-12).
- Every *.h5 file opens with h5py: the architecture attribute validates against the schema's
  $defs/architecture, and every kernel/bias dataset has the shape the architecture gives it.
- Where a.json and a.h5 hold the same model (the tests write such pairs), h5py's weights and optimizer slots
  equal the JSON file's, bit for bit (JSON decoded here with json + base64 + numpy, not with mlpconv's code).

Usage: python scripts/interop_check.py DIRECTORY
"""
import base64
import json
import pathlib
import sys

import h5py
import jsonschema
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
DTYPES = {"float32": "<f4", "float64": "<f8"}


def tensor_from_json(value):
    data = value["data"]
    dtype = np.dtype(DTYPES[value["dtype"]])
    if isinstance(data, str):
        array = np.frombuffer(base64.b64decode(data, validate=True), dtype=dtype)
    else:
        array = np.array(data, dtype=dtype)
    return array.reshape(value["shape"])


def parameter_names(architecture):
    for layer in architecture["layers"]:
        yield f"{layer['name']}/kernel"
        if layer.get("use_bias", True):
            yield f"{layer['name']}/bias"


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def check_json(path, validator):
    document = json.loads(path.read_text(encoding="utf-8"))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(f"{path.name}: schema: {errors[0].message} at {list(errors[0].path)}")
    return document


def check_h5(path, architecture_validator):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "mlpconv-model":
            raise AssertionError(f"{path.name}: no mlpconv format attribute")
        architecture = json.loads(f.attrs["architecture"])
        architecture_validator.validate(architecture)
        width = architecture["input_width"]
        tensors = {}
        for layer in architecture["layers"]:
            kernel = f[f"weights/{layer['name']}/kernel"][()]
            if kernel.shape != (width, layer["units"]):
                raise AssertionError(f"{path.name}: weights/{layer['name']}/kernel has shape {kernel.shape}")
            tensors[f"{layer['name']}/kernel"] = kernel
            if layer.get("use_bias", True):
                tensors[f"{layer['name']}/bias"] = f[f"weights/{layer['name']}/bias"][()]
            width = layer["units"]
        slots = {}
        if "optimizer" in f:
            for slot in f["optimizer"]:
                for name in parameter_names(architecture):
                    slots[(slot, name)] = f[f"optimizer/{slot}/{name}"][()]
        return architecture, tensors, slots


def compare_pair(json_path, document, h5_result):
    architecture, tensors, slots = h5_result
    if architecture != document["architecture"]:
        raise AssertionError(f"{json_path.stem}: architectures differ between .json and .h5")
    for layer in document["architecture"]["layers"]:
        for kind, value in document["weights"][layer["name"]].items():
            if not same_bits(tensor_from_json(value), tensors[f"{layer['name']}/{kind}"]):
                raise AssertionError(f"{json_path.stem}: {layer['name']}/{kind} differs between .json and .h5")
    optimizer = (document.get("training") or {}).get("optimizer", {})
    for slot, entries in optimizer.get("slots", {}).items():
        for name, value in entries.items():
            if not same_bits(tensor_from_json(value), slots[(slot, name)]):
                raise AssertionError(f"{json_path.stem}: optimizer slot {slot} {name} differs between .json and .h5")
    return len(tensors) + len(slots)


def main():
    folder = pathlib.Path(sys.argv[1])
    schema = json.loads((ROOT / "schemas" / "mlpconv-model.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    architecture_schema = dict(schema["$defs"]["architecture"], **{"$defs": schema["$defs"]})
    architecture_validator = jsonschema.Draft202012Validator(architecture_schema)

    json_files = sorted(folder.glob("*.json"))
    h5_files = sorted(folder.glob("*.h5"))
    if not json_files or not h5_files:
        raise SystemExit(f"interop: expected JSON and HDF5 files in {folder}, found {len(json_files)} and {len(h5_files)}")
    documents = {path: check_json(path, validator) for path in json_files}
    h5_results = {path: check_h5(path, architecture_validator) for path in h5_files}
    pairs = compared = 0
    for json_path, document in documents.items():
        h5_path = json_path.with_suffix(".h5")
        if h5_path in h5_results:
            compared += compare_pair(json_path, document, h5_results[h5_path])
            pairs += 1
    if pairs == 0:
        raise SystemExit("interop: no .json/.h5 pairs to compare")
    print(f"interop: {len(json_files)} JSON files valid against the schema; {len(h5_files)} HDF5 files read by h5py; "
          f"{pairs} pairs hold the same {compared} tensors bit for bit")


if __name__ == "__main__":
    main()
