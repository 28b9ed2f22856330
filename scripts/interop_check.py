#!/usr/bin/env python3
"""Checks the model files a test run wrote with independent Python readers — jsonschema, h5py and numpy, no mlpconv
code. CI (.ci/run) runs it on the folder the tests ran with (MLPCONV_INTEROP_DIR); the Keras files in DIR/keras
are scripts/keras_interop_check.py's.

Usage: python scripts/interop_check.py DIR      (packages: scripts/interop-requirements.txt)

The checks, each named in its failure lines and in the summary:

schema   JSON files against schemas/mlpconv-model.schema.json (jsonschema, draft 2020-12). Every file is first read
         as strict JSON: NaN/Infinity literals and duplicate keys are not JSON.
         - every top-level DIR/*.json is strict JSON and valid; the JSON codec's DIR/json-codec-*.json are among
           them, and there must be at least one;
         - every DIR/json-codec-invalid/*.json (documents mlpconv's reader rejects for a reason the schema can
           express) is rejected: not strict JSON, or invalid against the schema, so the schema stays as strict
           as the reader. There must be at least one.
crc32c   every tensor of a valid DIR/*.json that has a "crc32c" holds 8 lowercase hex digits equal to the CRC-32C of
         its values' little-endian bytes (decoded here with json + base64 + numpy, checksummed with
         scripts/mlpconv_crc32c.py); at least one tensor has one (mlpconv writes it for every tensor; documents
         the tests write by hand have none); in a .json/.h5 pair it equals the .h5 tensor's checksum.
hdf5     every top-level DIR/*.h5 opens with h5py; its `format` attribute is the string "mlpconv-model"; its
         `architecture` attribute is JSON valid against the schema's $defs/architecture; every kernel dataset is
         [inputs, units], every bias [units], and every /optimizer/<slot>/<layer>/<variable> (kernel, bias, gamma, beta) has its parameter's
         shape.
expected every DIR/hdf5-*.h5 (the HDF5 codec's files, at least one) has DIR/<file>.expected beside it, and every
         *.h5 with a .expected matches it (JSON written by the test, named so that the *.json glob skips it):
         format "mlpconv-model" and format_version 1; the architecture text, and architecture_crc32c over it;
         attributes_crc32c over the attributes of /, /metadata, /optimizer and /training;
         /weights and /optimizer hold exactly the expected datasets, each with the expected dtype (little-endian),
         shape and bytes, and a crc32c attribute matching its data; the optimizer name and iterations, the loss,
         and /training/history being JSON with a matching crc32c (or no /optimizer and no /training when none is
         expected); the metadata attributes.
pairs    where DIR/<name>.json and DIR/<name>.h5 both exist (at least one such pair), they hold the same
         architecture and the same tensors bit for bit (dtype, shape and bytes): every weight and every optimizer
         slot, with the same set of each on both sides. JSON tensors are decoded here with json + base64 + numpy.

Output: one line per failure, "<file>: <check>: <reason>", then one summary line with counts per check.
Exit status: 0 when everything passes, 1 on any failure, 2 when DIR holds no model files at all.
"""
import base64
import json
import pathlib
import sys

import h5py
import jsonschema
import numpy as np

from mlpconv_crc32c import crc32c

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schemas" / "mlpconv-model.schema.json"
DTYPES = {"float32": "<f4", "float64": "<f8"}  # dtype names in JSON tensors and .expected → numpy (little-endian)


# ---------------------------------------------------------------------------------------------
# Shared helpers: file discovery, schema loading, strict JSON, tensor decoding


class Files:
    """The files of DIR each check reads, sorted."""

    def __init__(self, folder: pathlib.Path):
        self.json = sorted(folder.glob("*.json"))
        self.json_codec = [path for path in self.json if path.name.startswith("json-codec-")]
        self.json_invalid = sorted((folder / "json-codec-invalid").glob("*.json"))
        self.h5 = sorted(folder.glob("*.h5"))
        self.h5_codec = [path for path in self.h5 if path.name.startswith("hdf5-")]

    @staticmethod
    def expected(h5_path: pathlib.Path) -> pathlib.Path:
        return h5_path.with_name(h5_path.name + ".expected")

    def pairs(self):
        """(json path, h5 path) for every name that has both."""
        h5 = {path.stem: path for path in self.h5}
        return [(path, h5[path.stem]) for path in self.json if path.stem in h5]

    def empty(self) -> bool:
        return not (self.json or self.json_invalid or self.h5)


def load_validators():
    """Draft 2020-12 validators for the whole document and for $defs/architecture (HDF5's architecture attribute)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    architecture = dict(schema["$defs"]["architecture"], **{"$defs": schema["$defs"]})
    return jsonschema.Draft202012Validator(schema), jsonschema.Draft202012Validator(architecture)


def strict_load(path: pathlib.Path):
    """json.loads of the file's bytes, refusing what Python's json accepts but JSON is not: NaN/Infinity literals
    and duplicate keys (ValueError)."""

    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError(f"duplicate key {sorted(k for k in keys if keys.count(k) > 1)[0]!r}")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_bytes(), object_pairs_hook=no_duplicates, parse_constant=no_constants)


def first_error(validator, document):
    """The schema error with the smallest path, as text, or None."""
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return None
    return f"{errors[0].message[:300]} at {list(errors[0].absolute_path)}"


def json_tensors(document: dict):
    """(JSON path, tensor object) of every tensor in a model document: the weights, then the optimizer slots."""
    for layer, entries in document.get("weights", {}).items():
        for name, tensor in entries.items():
            yield f"weights.{layer}.{name}", tensor
    optimizer = (document.get("training") or {}).get("optimizer", {})
    for slot, entries in optimizer.get("slots", {}).items():
        for name, tensor in entries.items():
            yield f"training.optimizer.slots.{slot}.{name}", tensor


def array_crc32c(array: np.ndarray) -> str:
    """The CRC-32C of an array's little-endian bytes, as JSON tensors store it."""
    return f"{crc32c(array.astype(array.dtype.newbyteorder('<')).tobytes()):08x}"


def tensor_from_json(value) -> np.ndarray:
    """A JSON tensor ({dtype, shape, data}: numbers, or base64 of little-endian bytes) as a numpy array."""
    dtype = np.dtype(DTYPES[value["dtype"]])
    data = value["data"]
    if isinstance(data, str):
        array = np.frombuffer(base64.b64decode(data, validate=True), dtype=dtype)
    else:
        array = np.array(data, dtype=dtype)
    return array.reshape(value["shape"])


def text(value) -> str:
    """An HDF5 string attribute or scalar dataset as str, whether h5py returns str or bytes."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def variables(architecture):
    """(layer name, variable, shape, trainable) of every weight tensor, in storage order: a Dense kernel and bias, a
    normalization's gamma (scale) and beta (center), batch normalization's moving_mean and moving_variance."""
    width = architecture["input_width"]
    for layer in architecture["layers"]:
        kind = layer.get("type", "dense")
        if kind == "dense":
            yield layer["name"], "kernel", (width, layer["units"]), True
            if layer.get("use_bias", True):
                yield layer["name"], "bias", (layer["units"],), True
            width = layer["units"]
        elif kind in ("batch_normalization", "layer_normalization"):
            if layer.get("scale", True):
                yield layer["name"], "gamma", (width,), True
            if layer.get("center", True):
                yield layer["name"], "beta", (width,), True
            if kind == "batch_normalization":
                yield layer["name"], "moving_mean", (width,), False
                yield layer["name"], "moving_variance", (width,), False


def parameters(architecture):
    """(layer name, variable, shape) of every trainable tensor, in the optimizer slots' order."""
    for layer, name, shape, trainable in variables(architecture):
        if trainable:
            yield layer, name, shape


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def describe(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


class Report:
    """Prints each failure line as it happens and counts them."""

    def __init__(self):
        self.failures = 0

    def fail(self, path, check: str, reason: str):
        name = path.name if isinstance(path, pathlib.Path) else path
        print(f"{name}: {check}: {reason}", flush=True)
        self.failures += 1


# ---------------------------------------------------------------------------------------------
# schema


def check_json_models(files: Files, validator, report: Report) -> tuple:
    """Every top-level *.json strict JSON and valid. Returns the documents that loaded (for the pairs check) and
    how many were valid."""
    documents, valid = {}, 0
    for path in files.json:
        try:
            document = strict_load(path)
        except (ValueError, UnicodeDecodeError) as error:
            report.fail(path, "schema", f"should be valid: not strict JSON: {error}")
            continue
        documents[path] = document
        error = first_error(validator, document)
        if error is not None:
            report.fail(path, "schema", f"should be valid: {error}")
        else:
            valid += 1
    if not files.json_codec:
        report.fail("DIR", "schema", "no json-codec-*.json files (the JSON codec tests write them)")
    return documents, valid


def check_json_checksums(documents: dict, report: Report) -> int:
    """The crc32c check over the documents that loaded. Returns how many tensors' checksums were recomputed."""
    checked = 0
    for path, document in documents.items():
        for where, tensor in json_tensors(document):
            if not isinstance(tensor, dict) or "crc32c" not in tensor:
                continue
            try:
                computed = array_crc32c(tensor_from_json(tensor))
            except Exception as error:
                report.fail(path, "crc32c", f"{where}: not compared: {describe(error)}")
                continue
            checked += 1
            if tensor["crc32c"] != computed:
                report.fail(path, "crc32c", f"{where}: crc32c {tensor['crc32c']!r}, the values' is {computed!r}")
    if not checked:
        report.fail("DIR", "crc32c", "no JSON tensor with a crc32c (mlpconv writes one for every tensor)")
    return checked


def check_json_invalid(files: Files, validator, report: Report) -> int:
    """Every json-codec-invalid/*.json rejected. Returns how many were."""
    rejected = 0
    for path in files.json_invalid:
        try:
            document = strict_load(path)
        except (ValueError, UnicodeDecodeError):
            rejected += 1  # not strict JSON: rejected before the schema
            continue
        if validator.is_valid(document):
            report.fail(f"json-codec-invalid/{path.name}", "schema", "should be rejected by the schema")
        else:
            rejected += 1
    if not files.json_invalid:
        report.fail("DIR", "schema", "no json-codec-invalid/*.json files (the JSON codec tests write them)")
    return rejected


# ---------------------------------------------------------------------------------------------
# hdf5


def read_h5(f: h5py.File, architecture_validator) -> tuple:
    """The architecture, weights and optimizer slots of an open mlpconv HDF5 file, checking the format attribute,
    the architecture against the schema and every dataset's shape. Raises AssertionError or KeyError."""
    if f.attrs.get("format") != "mlpconv-model":
        raise AssertionError(f"format attribute is {f.attrs.get('format')!r}, expected the string 'mlpconv-model'")
    architecture = json.loads(f.attrs["architecture"])
    error = first_error(architecture_validator, architecture)
    if error is not None:
        raise AssertionError(f"architecture attribute: {error}")
    weights, slots = {}, {}
    for layer, kind, shape, _ in variables(architecture):
        array = f[f"weights/{layer}/{kind}"][()]
        if array.shape != shape:
            raise AssertionError(f"/weights/{layer}/{kind} has shape {array.shape}, expected {shape}")
        weights[f"{layer}/{kind}"] = array
    if "optimizer" in f:
        for slot in f["optimizer"]:
            for layer, kind, shape in parameters(architecture):
                array = f[f"optimizer/{slot}/{layer}/{kind}"][()]
                if array.shape != shape:
                    raise AssertionError(f"/optimizer/{slot}/{layer}/{kind} has shape {array.shape}, expected {shape}")
                slots[(slot, f"{layer}/{kind}")] = array
    return architecture, weights, slots


def attributes_crc32c(f: h5py.File) -> int:
    """The CRC-32C that /@attributes_crc32c stores, computed independently of mlpconv (schemas/hdf5-layout.md,
    "Checksums"): for /, /metadata, /optimizer and /training in that order (those present), each attribute sorted by
    its name's UTF-8 bytes (/@attributes_crc32c itself left out): the group's path, "@", the name, a NUL, the kind
    (s, i, f), 0 for a scalar or 1 and the count as uint64 LE, then the elements (strings NUL-terminated, integers as
    64-bit LE, floats as float64 LE)."""
    data = bytearray()
    for path in ["/", "/metadata", "/optimizer", "/training"]:
        if path != "/" and path[1:] not in f:
            continue
        attrs = f[path].attrs
        for name in sorted((n for n in attrs.keys() if not (path == "/" and n == "attributes_crc32c")),
                           key=lambda n: n.encode("utf-8")):
            dtype = attrs.get_id(name).dtype
            value = attrs[name]
            shape = attrs.get_id(name).shape
            data += path.encode("utf-8") + b"@" + name.encode("utf-8") + b"\0"
            values = [value] if shape == () else list(value)
            if dtype.kind in "iu":
                data += b"i"
            elif dtype.kind == "f":
                data += b"f"
            else:
                data += b"s"
            data += b"\0" if shape == () else b"\1" + np.uint64(len(values)).astype("<u8").tobytes()
            if dtype.kind == "u":
                data += np.asarray(values, dtype="<u8").tobytes()
            elif dtype.kind == "i":
                data += np.asarray(values, dtype="<i8").tobytes()
            elif dtype.kind == "f":
                data += np.asarray(values, dtype="<f8").tobytes()
            else:
                for item in values:
                    data += text(item).encode("utf-8") + b"\0"
    return crc32c(bytes(data))


def expected_problems(f: h5py.File, expected: dict) -> list:
    """Every difference between an open HDF5 file and its .expected, as text."""
    problems = []
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
    if "attributes_crc32c" not in f.attrs:
        problems.append("no attributes_crc32c")
    elif attributes_crc32c(f) != int(f.attrs["attributes_crc32c"]):
        problems.append("attributes_crc32c does not match the attributes")

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
        dtype = DTYPES[spec["dtype"]]
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
        history = text(f["training/history"][()])
        json.loads(history)
        if crc32c(history.encode("utf-8")) != int(f["training/history"].attrs["crc32c"]):
            problems.append("history crc32c does not match the text")
    elif "optimizer" in f or "training" in f:
        problems.append("unexpected /optimizer or /training")

    metadata = {key: text(value) for key, value in f["metadata"].attrs.items()} if "metadata" in f else {}
    if metadata != expected["metadata"]:
        problems.append(f"metadata {metadata!r} != {expected['metadata']!r}")
    return problems


def check_h5_files(files: Files, architecture_validator, report: Report) -> tuple:
    """The hdf5 and expected checks. Returns {path: (architecture, weights, slots)} of the files read (for the
    pairs check), how many files the expected check applies to (hdf5-*.h5 and any *.h5 with a .expected) and how
    many of those match."""
    results, due, matched = {}, 0, 0
    for path in files.h5:
        expected_path = files.expected(path)
        expected_due = path in files.h5_codec or expected_path.exists()
        due += expected_due
        if expected_due and not expected_path.exists():
            report.fail(path, "expected", f"no {expected_path.name}")
            expected_due = False
        try:
            f = h5py.File(path, "r")
        except Exception as error:
            report.fail(path, "hdf5", f"h5py cannot open it: {describe(error)}")
            if expected_due:
                report.fail(path, "expected", "not compared: h5py cannot open the file")
            continue
        with f:
            try:
                results[path] = read_h5(f, architecture_validator)
            except Exception as error:
                report.fail(path, "hdf5", str(error) if isinstance(error, AssertionError) else describe(error))
            if expected_due:
                try:
                    problems = expected_problems(f, json.loads(expected_path.read_text(encoding="utf-8")))
                except Exception as error:
                    problems = [describe(error)]
                for problem in problems:
                    report.fail(path, "expected", problem)
                matched += not problems
    if not files.h5_codec:
        report.fail("DIR", "expected", "no hdf5-*.h5 files (the HDF5 codec tests write them)")
    return results, due, matched


# ---------------------------------------------------------------------------------------------
# pairs


def pair_problems(document: dict, h5_result: tuple) -> tuple:
    """Differences between a JSON document and the same model read from HDF5, and how many tensors were compared."""
    architecture, weights, slots = h5_result
    if architecture != document["architecture"]:
        return ["architectures differ between .json and .h5"], 0
    problems = []
    json_weights = {f"{layer}/{kind}": value
                    for layer, entries in document["weights"].items() for kind, value in entries.items()}
    if set(json_weights) != set(weights):
        problems.append(f"weights differ in names: only in .json {sorted(set(json_weights) - set(weights))}, "
                        f"only in .h5 {sorted(set(weights) - set(json_weights))}")
    optimizer = (document.get("training") or {}).get("optimizer", {})
    json_slots = {(slot, name): value
                  for slot, entries in optimizer.get("slots", {}).items() for name, value in entries.items()}
    if set(json_slots) != set(slots):
        problems.append(f"optimizer slots differ in names: only in .json {sorted(set(json_slots) - set(slots))}, "
                        f"only in .h5 {sorted(set(slots) - set(json_slots))}")
    for name in sorted(set(json_weights) & set(weights)):
        if not same_bits(tensor_from_json(json_weights[name]), weights[name]):
            problems.append(f"{name} differs between .json and .h5")
        elif json_weights[name].get("crc32c", array_crc32c(weights[name])) != array_crc32c(weights[name]):
            problems.append(f"{name}: the .json's crc32c is not the .h5 tensor's checksum")
    for key in sorted(set(json_slots) & set(slots)):
        if not same_bits(tensor_from_json(json_slots[key]), slots[key]):
            problems.append(f"optimizer slot {key[0]} {key[1]} differs between .json and .h5")
        elif json_slots[key].get("crc32c", array_crc32c(slots[key])) != array_crc32c(slots[key]):
            problems.append(f"optimizer slot {key[0]} {key[1]}: the .json's crc32c is not the .h5 tensor's checksum")
    return problems, len(weights) + len(slots)


def check_pairs(files: Files, documents: dict, h5_results: dict, report: Report) -> tuple:
    """The pairs check. Returns (pairs, pairs that match, tensors compared in those)."""
    pairs, same, tensors = files.pairs(), 0, 0
    for json_path, h5_path in pairs:
        name = json_path.stem + ".json/.h5"
        if json_path not in documents or h5_path not in h5_results:
            report.fail(name, "pairs", "not compared: " + ("the .json" if json_path not in documents else "the .h5")
                        + " could not be read (see above)")
            continue
        try:
            problems, count = pair_problems(documents[json_path], h5_results[h5_path])
        except Exception as error:
            problems, count = [describe(error)], 0
        for problem in problems:
            report.fail(name, "pairs", problem)
        if not problems:
            same += 1
            tensors += count
    if not pairs:
        report.fail("DIR", "pairs", "no <name>.json/<name>.h5 pairs to compare")
    return len(pairs), same, tensors


# ---------------------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    folder = pathlib.Path(sys.argv[1])
    files = Files(folder)
    if files.empty():
        print(f"interop: no model files (*.json, *.h5, json-codec-invalid/*.json) in {folder}", file=sys.stderr)
        return 2
    validator, architecture_validator = load_validators()
    report = Report()

    documents, valid = check_json_models(files, validator, report)
    checksums = check_json_checksums(documents, report)
    rejected = check_json_invalid(files, validator, report)
    h5_results, expected_due, matched = check_h5_files(files, architecture_validator, report)
    pairs, same, tensors = check_pairs(files, documents, h5_results, report)

    print(f"interop: schema: {valid} of {len(files.json)} JSON models valid "
          f"({len(files.json_codec)} json-codec-*), {rejected} of {len(files.json_invalid)} invalid documents rejected; "
          f"crc32c: {checksums} JSON tensors' checksums recomputed; "
          f"hdf5: {len(h5_results)} of {len(files.h5)} HDF5 files read by h5py; "
          f"expected: {matched} of {expected_due} HDF5 files match their .expected; "
          f"pairs: {same} of {pairs} .json/.h5 pairs hold the same {tensors} tensors bit for bit; "
          f"{report.failures} failure{'' if report.failures == 1 else 's'}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
