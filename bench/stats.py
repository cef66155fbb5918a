"""Medians and spreads of repeated runs, the machine's description, child-process accounting."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import tempfile
import time


def summary(values) -> dict:
    """{"median", "min", "max", "runs"} of the runs' values (None when there is none)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"median": None, "min": None, "max": None, "runs": []}
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": values,
    }


def summaries(runs: list[dict], keys) -> dict:
    return {key: summary(run.get(key) for run in runs) for key in keys}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict:
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_kb = 0
    try:
        with open("/proc/meminfo") as meminfo:
            memory_kb = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def run_peak(args: list[str], *, env: dict, cwd, timeout: float = 1800) -> dict:
    """Run a child to its end: wall seconds, peak resident memory (MB), exit code, output.

    The peak is the kernel's maximum resident set size of that child (os.wait4), which
    covers all of its threads (joblib's and XGBoost's included).
    """
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                process.kill()
                raise subprocess.TimeoutExpired(args, timeout)
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    return {
        "seconds": seconds,
        "peak_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
        "returncode": process.returncode,
        "output": output,
    }
