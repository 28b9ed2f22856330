"""Builds the fuzz seed corpora in fuzz/corpus/<target>/ from the committed fixtures and a few crafted cases.

Run from the repository root: /work/venv/bin/python fuzz/make_corpus.py (numpy for the .npy cases). Deterministic:
a rerun writes the same bytes. Seeds stay small (a few KB): libFuzzer mutates small inputs far faster, and the
corpus it grows while running is not committed.
"""
import io
import json
import pathlib
import pickle
import shutil
import warnings
import zipfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SEED = 8192
# The data targets' first byte picks the model: inputs 1 + (b & 7), outputs 1 + ((b >> 3) & 3), loss (b >> 5) & 3
# (none, mse, categorical, sparse categorical). 4 inputs, 3 outputs: categorical 83, sparse 115, none 19.
CATEGORICAL_4_3, SPARSE_4_3, NONE_4_3 = 83, 115, 19


def put(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) <= MAX_SEED, f"{target}/{name} is {len(data)} bytes"
    (folder / name).write_bytes(data)


def fixture(path):
    return (ROOT / "fixtures" / path).read_bytes()


def small_fixtures(target, folder, suffixes, limit=MAX_SEED):
    for path in sorted((ROOT / "fixtures" / folder).rglob("*")):
        if path.is_file() and path.suffix in suffixes and path.stat().st_size <= limit:
            put(target, str(path.relative_to(ROOT / "fixtures")).replace("/", "_"), path.read_bytes())


def stored_zip(members, compression=zipfile.ZIP_STORED, force_zip64=False):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = compression
            with archive.open(info, "w", force_zip64=force_zip64) as member:
                member.write(data)
    return buffer.getvalue()


def npy(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def json_seeds():
    for name in ["sgd_nesterov_tanh_sigmoid.base64.json", "sgd_nesterov_tanh_sigmoid.array.json",
                 "adagrad_unicode.base64.json"]:
        put("json-model", name, fixture("json-writer/" + name))
    put("json-model", "network_only.json", fixture("models/sgd_nesterov_tanh_sigmoid.json"))
    put("json-audit", "model.json", fixture("json-writer/sgd_nesterov_tanh_sigmoid.array.json"))
    crafted = {
        "numbers.json": '[0, -0, -0.0, 1e308, 2.2250738585072014e-308, 4.9e-324, 9007199254740993, '
                        '-9223372036854775808, 9223372036854775807, 18446744073709551616, 1.5E+3, 0.1]',
        "bulk.json": '{"a": [1, 2, 3, 4, 5.5, -6e-3], "s": "abcdefghijklmnopqrstuvwxyz", "n": null}',
        "escapes.json": '{"\\u00e9\\ud83d\\ude00": "tab\\there \\"quoted\\" \\\\ \\/ \\b\\f\\n\\r", "": [true, false]}',
        "nested.json": "[" * 40 + "]" * 40,
        "duplicate.json": '{"a": 1, "a": 2}',
        "bad_surrogate.json": '["\\ud800"]',
        "trailing.json": '{"a": 1} x',
        "nan.json": '[NaN, Infinity, -Infinity]',
        "bom.json": "\ufeff{}",
    }
    for name, text in crafted.items():
        put("json-audit", name, text)


def keras_seeds():
    """The two smallest configurations of each Keras fixture folder (layers, optimizers, losses, schedules…)."""
    for folder in sorted(p for p in (ROOT / "fixtures").glob("keras*") if p.is_dir()):
        configs = []
        for path in sorted(folder.rglob("*.keras")):
            try:
                with zipfile.ZipFile(path) as archive:
                    configs.append((len(archive.read("config.json")), path, archive.read("config.json")))
            except (zipfile.BadZipFile, KeyError):
                continue
        for _, path, config in sorted(configs)[:2]:
            put("keras-config", path.parent.name + "_" + path.stem + ".json", config)
    # Findings of this target, kept as seeds. Models built without an input layer, whose shape only the build
    # configuration gives, were read as if their input were flat (a Dense layer on [4, 4, 1] and a channels_first
    # Flatten were accepted). Both must be refused at the first layer.
    for name, layer in [("dense", {"class_name": "Dense", "config": {"name": "d", "units": 2}}),
                        ("flatten_channels_first", {"class_name": "Flatten",
                                                    "config": {"name": "f", "data_format": "channels_first"}})]:
        config = {"class_name": "Sequential", "config": {"name": "m", "layers": [layer],
                                                         "build_input_shape": [None, 4, 4, 1]}}
        put("keras-config", "found_build_shape_" + name + ".json", json.dumps(config))
    # Another: a layer name with a `/` (no name for its weights) was accepted.
    config = {"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 4], "name": "in"}},
        {"class_name": "Dense", "config": {"name": "De/nse", "units": 2}}]}}
    put("keras-config", "found_layer_name_slash.json", json.dumps(config))
    # And a schedule's rate beyond float32's range was accepted by the optimizer reader.
    config["config"]["layers"][1]["config"]["name"] = "dense"
    config["compile_config"] = {"loss": "mean_squared_error", "optimizer": {
        "class_name": "SGD", "config": {"name": "sgd", "learning_rate": {
            "class_name": "ExponentialDecay",
            "config": {"initial_learning_rate": 1.051e308, "decay_steps": 3, "decay_rate": 0.7}}}}}
    put("keras-config", "found_schedule_rate_range.json", json.dumps(config))


def zip_seeds():
    put("zip", "iris-like.npz", fixture("data/iris-like.npz"))
    put("zip", "stored.zip", stored_zip([("a.txt", b"hello"), ("dir/", b""), ("b.bin", bytes(range(64)))]))
    put("zip", "deflated.zip", stored_zip([("x.npy", b"abc" * 200), ("y.npy", b"")], zipfile.ZIP_DEFLATED))
    put("zip", "zip64.zip", stored_zip([("big", b"0123456789")], force_zip64=True))
    put("zip", "empty.zip", stored_zip([]))
    put("zip", "duplicate.zip", stored_zip([("same", b"1"), ("same", b"22")]))


def safetensors_seeds():
    small_fixtures("safetensors", "safetensors", {".safetensors"}, limit=4096)
    small_fixtures("safetensors", "torch", {".safetensors"}, limit=4096)


def pickle_seeds():
    for path in sorted((ROOT / "fixtures" / "torch-pickle").rglob("*.pt")):
        try:
            with zipfile.ZipFile(path) as archive:
                names = [name for name in archive.namelist() if name.endswith("data.pkl")]
                data = archive.read(names[0]) if names else None
        except zipfile.BadZipFile:
            data = path.read_bytes()
        if data and len(data) <= MAX_SEED:
            put("pickle", path.parent.name + "_" + path.stem + ".pkl", data)
    values = {
        "scalars.pkl": [None, True, False, 0, -1, 255, 65536, 2**40, -2**70, 1.5, float("inf"), "text", "é😀", b"\x00\xff"],
        "containers.pkl": {"a": (1, 2), "b": [3.0, {"c": ()}], (1,): {4, 5}},
        "nested.pkl": [[[[[[[[1]]]]]]]],
    }
    for name, value in values.items():
        for protocol in (2, 4):
            put("pickle", f"p{protocol}_{name}", pickle.dumps(value, protocol=protocol))
    shared = [1, 2]
    put("pickle", "memo.pkl", pickle.dumps([shared, shared, shared], protocol=2))


def torch_seeds():
    small_fixtures("torch", "torch", {".pt", ".pth"}, limit=6000)
    small_fixtures("torch", "torch-pickle", {".pt"}, limit=4096)


def onnx_seeds():
    small_fixtures("onnx", "onnx", {".onnx"}, limit=2048)
    for name in ["relu_softmax_opset17.onnx", "tanh_silu_float64.onnx"]:
        put("onnx", name, fixture("onnx-mlpconv/" + name))


def data_seeds():
    put("npy", "iris-like-features.npy", bytes([NONE_4_3]) + fixture("data/iris-like-features.npy"))
    arrays = {
        "f4.npy": np.arange(8, dtype="<f4").reshape(2, 4),
        "f8_big_endian.npy": np.arange(8, dtype=">f8").reshape(2, 4),
        "f2.npy": np.arange(8, dtype="<f2").reshape(2, 4),
        "fortran.npy": np.asfortranarray(np.arange(8, dtype="<f4").reshape(2, 4)),
        "i8.npy": np.arange(8, dtype="<i8").reshape(2, 4),
        "u1.npy": np.arange(8, dtype="u1").reshape(2, 4),
        "bool.npy": np.array([[True, False, True, False]]),
        "vector.npy": np.arange(3, dtype="<f4"),
        "scalar.npy": np.array(1.0, dtype="<f4"),
        "nan.npy": np.array([[np.nan, 1, 2, 3]], dtype="<f4"),
    }
    for name, array in arrays.items():
        put("npy", name, bytes([NONE_4_3]) + npy(array))
    put("npz", "iris-like.npz", bytes([SPARSE_4_3]) + fixture("data/iris-like.npz"))
    put("npz", "iris-like-onehot.npz", bytes([CATEGORICAL_4_3]) + fixture("data/iris-like-onehot.npz"))
    x, labels = np.arange(12, dtype="<f4").reshape(3, 4), np.array([0, 2, 1], dtype="<i8")
    put("npz", "deflated.npz", bytes([SPARSE_4_3]) + stored_zip(
        [("x.npy", npy(x)), ("y.npy", npy(labels))], zipfile.ZIP_DEFLATED))
    put("npz", "features-only.npz", bytes([NONE_4_3]) + stored_zip([("x.npy", npy(x))]))
    put("npz", "float-labels.npz", bytes([SPARSE_4_3]) + stored_zip(
        [("x.npy", npy(x)), ("y.npy", npy(np.array([0.0, 1.5, 2.0])))]))
    put("csv", "iris-like.csv", bytes([SPARSE_4_3]) + fixture("data/iris-like.csv"))
    put("csv", "digits-head.csv", bytes([NONE_4_3]) + b"\n".join(fixture("data/digits.csv").split(b"\n")[:8]) + b"\n")
    crafted = {
        "header.csv": (CATEGORICAL_4_3, "a,b,c,d,label\n1,2,3,4,0\n5,6,7,8,2\n"),
        "onehot.csv": (CATEGORICAL_4_3, "1,2,3,4,0,0,1\r\n5,6,7,8,1,0,0\r\n"),
        "mixed-first-row.csv": (SPARSE_4_3, "1,2,3O,4,0\n5,6,7,8,1\n"),
        "blanks.csv": (NONE_4_3, " 1 ,\t2,3,4\n\n5,6,7,8\n"),
        "exponents.csv": (NONE_4_3, "1e-3,-2E+5,.5,5.\n1e39,nan,inf,-0\n"),
        "quote.csv": (NONE_4_3, "\"1\",2,3,4\n"),
        "nul.csv": (NONE_4_3, "1,2,3,4\x00\n"),
        "long-digits.csv": (NONE_4_3, "0.1000000000000000055511151231257827,123456789012345678901234567890,1,2\n"),
    }
    for name, (selector, text) in crafted.items():
        put("csv", name, bytes([selector]) + text.encode())


JSON_TOKENS = ["{", "}", "[", "]", ":", ",", '"', "true", "false", "null", "-0", "1e308", "1e-400", "0.1", "\\u0000",
               "\\ud800", "\\n", "NaN", "Infinity", "9223372036854775808"]
# The opcodes and globals the restricted unpickler knows (PickleSupport), as bytes.
PICKLE_TOKENS = [b"\x80\x02", b"\x80\x04", b"}q\x00", b"]q\x00", b"(", b"t", b"\x85", b"\x86", b"\x87", b"s", b"u",
                 b"a", b"e", b"R", b"b", b"Q", b"h\x00", b"j\x00\x00\x00\x00", b"q\x01", b"r\x00\x00\x00\x00", b"N",
                 b"\x88", b"\x89", b"K\x01", b"M\x00\x01", b"J\xff\xff\xff\xff", b"\x8a\x01\x01", b"G", b"X", b"\x8c",
                 b"C", b"B", b"\x8e", b"\x95", b"\x94", b".", b"0", b"2", b"P", b"I", b"L",
                 b"ctorch._utils\n_rebuild_tensor_v2\n", b"ccollections\nOrderedDict\n",
                 b"ctorch\nFloatStorage\n", b"ctorch\nDoubleStorage\n", b"c_codecs\nencode\n",
                 b"ctorch._utils\n_rebuild_parameter\n", b"cbuiltins\nset\n", b"storage", b"cpu", b"latin1"]
NPY_TOKENS = [b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00", b"'descr': '<f4'", b"'descr': '>f8'", b"'<i8'", b"'|b1'",
              b"'<f2'", b"'|u1'", b"'fortran_order': False", b"'fortran_order': True", b"'shape': (", b",)", b"()",
              b"x.npy", b"y.npy", b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"]
CSV_TOKENS = [b",", b"\n", b"\r\n", b"e-", b"E+", b"nan", b"inf", b"-", b".", b" ", b"\t", b'"', b"\x00", b"label"]


def json_strings(value, found):
    """Every key and string value of a JSON value."""
    if isinstance(value, dict):
        for key, member in value.items():
            found.add(key)
            json_strings(member, found)
    elif isinstance(value, list):
        for element in value:
            json_strings(element, found)
    elif isinstance(value, str) and len(value) <= 40:
        found.add(value)


def dictionary_entry(token):
    if isinstance(token, str):
        token = token.encode()
    return '"' + "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\' else f"\\x{b:02X}" for b in token) + '"'


def write_dictionary(name, tokens):
    folder = ROOT / "fuzz" / "dict"
    folder.mkdir(parents=True, exist_ok=True)
    lines = [dictionary_entry(token) for token in tokens]
    (folder / name).write_text("# libFuzzer dictionary, written by fuzz/make_corpus.py\n" + "\n".join(lines) + "\n")


def dictionaries():
    write_dictionary("json.dict", JSON_TOKENS)
    for target in ["json-model", "keras-config"]:
        strings = set()
        for path in sorted((CORPUS / target).iterdir()):
            try:
                json_strings(json.loads(path.read_bytes()), strings)
            except ValueError:
                continue
        # Keys and names only; tensor payloads (base64) are no use as tokens.
        tokens = sorted(s for s in strings if s.isascii() and s.replace("_", "").isalnum())
        write_dictionary(f"{target}.dict", JSON_TOKENS + ['"' + s + '"' for s in tokens])
    write_dictionary("pickle.dict", PICKLE_TOKENS)
    write_dictionary("npy.dict", NPY_TOKENS)
    write_dictionary("csv.dict", CSV_TOKENS)


def main():
    warnings.filterwarnings("ignore", message="Duplicate name")  # duplicate.zip has two members of one name on purpose
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    json_seeds()
    keras_seeds()
    zip_seeds()
    safetensors_seeds()
    pickle_seeds()
    torch_seeds()
    onnx_seeds()
    data_seeds()
    dictionaries()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        print(f"{folder.name}: {len(files)} seeds, {sum(f.stat().st_size for f in files)} bytes")


if __name__ == "__main__":
    main()
