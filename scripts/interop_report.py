"""What the interop checks (torch_interop_check.py, onnx_interop_check.py) share: every expectation file is checked and
reported on one line, a model file no expectation describes is a failure, and an empty folder is a failure — nothing
unchecked counts as passed."""

EXPECT_SUFFIX = ".expect.json"


def one_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


def check_all(folder, expects, orphans, check, describe=one_line):
    """Runs `check(name)` (which returns a summary or raises) on every expectation file; returns (passed, failed).
    `describe` turns an error into the failure's one line."""
    passed = failed = 0
    for name in expects:
        try:
            print(f"ok   {name}: {check(name)}")
            passed += 1
        except Exception as error:  # report every file, then fail
            failed += 1
            print(f"FAIL {name}: {describe(error)}")
    for name in orphans:
        failed += 1
        print(f"FAIL {name}: no {EXPECT_SUFFIX} describes it, so nothing checked it")
    if not expects and not orphans:
        failed += 1
        print(f"FAIL {folder}: no {EXPECT_SUFFIX} files to check")
    return passed, failed
