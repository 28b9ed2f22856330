"""Loads the torch.save files the Swift writer left in $MLPCONV_INTEROP_DIR/torch-pickle/ with
torch.load(weights_only=True) and compares each with the JSON description written next to it.

    MLPCONV_INTEROP_DIR=/tmp/interop swift test --skip-build --filter PickleSupportTests.InteropTests
    MLPCONV_INTEROP_DIR=/tmp/interop python3 scripts/torch_pickle_check.py

Floats are compared by value (the descriptions hold them as hex floats); exits non-zero on any difference.
"""
import glob
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "generate"))
from generate_torch_pickles import describe  # noqa: E402  (the same description the fixtures use)


def canonical(node):
    """Hex-float strings as floats, so Swift's "%a" and Python's float.hex() compare equal."""
    if isinstance(node, list) and node and node[0] == "float":
        return ["float", float.fromhex(node[1])]
    if isinstance(node, list) and node and node[0] == "tensor":
        fields = dict(node[1])
        if fields["dtype"] in ("float16", "bfloat16", "float32", "float64"):
            fields["values"] = [float.fromhex(v) for v in fields["values"]]
        return ["tensor", fields]
    if isinstance(node, list):
        return [canonical(child) for child in node]
    return node


def main():
    directory = os.path.join(os.environ["MLPCONV_INTEROP_DIR"], "torch-pickle")
    files = sorted(glob.glob(os.path.join(directory, "*.pt")))
    if not files:
        sys.exit(f"no .pt files in {directory}")
    failed = 0
    for path in files:
        loaded = torch.load(path, weights_only=True)
        ours = canonical(json.load(open(path[:-3] + ".json")))
        theirs = canonical(describe(loaded, {}))
        if ours == theirs:
            print(f"ok      {os.path.basename(path)}")
        else:
            failed += 1
            print(f"DIFFERS {os.path.basename(path)}\n  swift: {json.dumps(ours)[:400]}\n  torch: {json.dumps(theirs)[:400]}")
    print(f"{len(files) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
