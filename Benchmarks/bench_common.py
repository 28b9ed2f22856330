"""What the peer-benchmark scripts share: best-of-N timing and building mlpbench when it is missing."""
import ctypes
import os
import pathlib
import platform
import re
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


def print_machine_facts(mlpbench):
    """CPU, platform, the OpenBLAS mlpconv links with its configuration, and the load: markdown list lines."""
    cpu = open("/proc/cpuinfo").read()
    field = lambda key: (re.search(rf"^{key}\s*:\s*(.*)$", cpu, re.M) or [None, "?"])[1]
    print(f"- CPU: {field('model name')} (family {field('cpu family')}, model {field('model')}, "
          f"stepping {field('stepping')}), nproc {os.cpu_count()}, "
          f"AVX-512 {'avx512f' in cpu}, AMX {'amx_tile' in cpu}")
    print(f"- {platform.platform()}, Python {platform.python_version()}")
    lib = re.search(r"libopenblas\S*\s*=>\s*(\S+)", subprocess.run(["ldd", mlpbench], capture_output=True, text=True).stdout)
    if lib:
        blas = ctypes.CDLL(lib.group(1))
        blas.openblas_get_config.restype = ctypes.c_char_p
        print(f"- mlpconv links {os.path.realpath(lib.group(1))}: {blas.openblas_get_config().decode()}")
    print(f"- load average {os.getloadavg()[0]:.2f} at start" + (" — other processes are running; "
          "numbers will be noisy, 2-thread ones most" if os.getloadavg()[0] > 0.5 else ""))
