"""wrk, the HTTP load generator (Debian's package), and the parsing of its report.

wrk is written in C and uses one thread per core it is given: on 2 cores it takes a small
share of the CPU, where a Python client would take the server's. Its `--latency` report gives
the 50th, 75th, 90th and 99th percentiles of the request latency.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

LUA = Path(__file__).resolve().parent / "lua" / "post_lines.lua"
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def ensure_wrk() -> str:
    """The path of wrk, installed from Debian's packages if missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk is missing: installing it from Debian's packages (apt-get install wrk)...")
        quiet = {"stdout": subprocess.DEVNULL}
        subprocess.run(["apt-get", "update", "-qq"], check=False, **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False, **quiet)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit(
        "The benchmark needs wrk, the HTTP load generator: install it with "
        "`sudo apt-get install wrk` (Debian/Ubuntu) and run `make bench` again."
    )


def command(
    url: str, lines_file: Path, *, connections: int, seconds: float, once: bool = False
) -> list[str]:
    threads = 1 if connections == 1 else 2
    return [
        ensure_wrk(),
        f"--threads={threads}",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        "--timeout=10s",
        "--latency",
        f"--script={LUA}",
        url,
        "--",
        str(lines_file),
        "1" if once else "0",
        str(threads),
    ]


def run(url: str, lines_file: Path, *, connections: int, seconds: float, once=False) -> dict:
    args = command(url, lines_file, connections=connections, seconds=seconds, once=once)
    result = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr}{result.stdout}")
    return parse(result.stdout)


def start(url: str, lines_file: Path, *, connections: int, seconds: float) -> subprocess.Popen:
    """wrk in the background (stopped early with stop(): SIGINT makes it print its report)."""
    args = command(url, lines_file, connections=connections, seconds=seconds)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop(process: subprocess.Popen) -> dict:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    out, _err = process.communicate(timeout=30)
    return parse(out)


def parse(output: str) -> dict:
    """Requests, requests per second, percentiles (ms), non-2xx answers and socket errors."""
    found = {}
    for percent in ("50", "75", "90", "99"):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if match:
            found[f"p{percent}_ms"] = float(match.group(1)) * _UNIT_MS[match.group(2)]
    requests = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not (requests and rps and "p99_ms" in found):
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return {
        **found,
        "requests": int(requests.group(1)),
        "seconds": float(requests.group(2)) * _UNIT_MS[requests.group(3)] / 1000,
        "rps": float(rps.group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }
