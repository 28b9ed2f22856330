"""What the peer-benchmark scripts share: best-of-N timing and building mlpbench when it is missing."""
import pathlib
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent


def best(repeats, body):
    """The shortest wall time of `repeats` calls of `body`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return min(times)


def ensure_mlpbench(path):
    """Builds mlpbench (release) into the scratch folder two levels above `path` when `path` does not exist."""
    path = pathlib.Path(path)
    if not path.exists():
        subprocess.run(["swift", "build", "-c", "release", "--product", "mlpbench", "--scratch-path",
                        str(path.parent.parent)], check=True, cwd=ROOT)
