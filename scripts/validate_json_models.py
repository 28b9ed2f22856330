#!/usr/bin/env python3
"""Validates the JSON model files a test run wrote against schemas/mlpconv-model.schema.json.

Usage: validate_json_models.py DIR   (DIR is the MLPCONV_INTEROP_DIR the tests ran with)

DIR/json-codec-*.json               every file the JSON codec tests wrote: each must be valid
                                     (interop_check.py checks these too, with the other top-level *.json).
DIR/json-codec-invalid/*.json        documents the reader rejects for a reason the schema can express: each must
                                     be invalid, so the schema stays as strict as the reader. Files that are not
                                     strict JSON (NaN literals, duplicate keys, syntax errors) are rejected before
                                     the schema and count as rejected.
Exits non-zero on any mismatch. Needs the `jsonschema` package.
"""
import json
import pathlib
import sys

import jsonschema


def strict_load(path):
    def no_duplicates(pairs):
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            raise ValueError("duplicate key")
        return dict(pairs)

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(path.read_bytes(), object_pairs_hook=no_duplicates, parse_constant=no_constants)


def main():
    root = pathlib.Path(sys.argv[1])
    schema_path = pathlib.Path(__file__).resolve().parent.parent / "schemas" / "mlpconv-model.schema.json"
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems, valid, invalid = 0, 0, 0
    for path in sorted(root.glob("json-codec-*.json")):
        valid += 1
        error = next(iter(validator.iter_errors(strict_load(path))), None)
        if error is not None:
            problems += 1
            print(f"{path.name}: should be valid: {error.message[:300]} at {list(error.absolute_path)}")
    for path in sorted((root / "json-codec-invalid").glob("*.json")):
        invalid += 1
        try:
            document = strict_load(path)
        except ValueError:
            continue
        if validator.is_valid(document):
            problems += 1
            print(f"{path.name}: should be rejected by the schema")
    print(f"{valid} valid and {invalid} invalid JSON model files checked, {problems} problems")
    if valid == 0 or invalid == 0 or problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
