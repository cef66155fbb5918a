"""Lower the CPU priority of the current process before a long computation.

Pure Python: no Django imports.

On Linux the nice value belongs to each thread: os.nice() changes only the calling thread,
and threads inherit it only when they are created. A worker process may already hold thread
pools (XGBoost's OpenMP threads, BLAS) from an earlier task, so every existing thread is
lowered through /proc/self/task; the threads created later inherit the value. Lowering a
priority never needs a privilege, raising it back does, so the process keeps the lower
priority for the rest of its life: the Celery worker only runs background tasks.
"""

from __future__ import annotations

import os

_TASKS = "/proc/self/task"


def lower_cpu_priority(nice: int) -> int | None:
    """Raise the nice value of every thread of this process to at least `nice`.

    Returns the calling thread's nice value afterwards, or None where the platform has no
    per-process priority. A thread that is already nicer is left as it is.
    """
    if not hasattr(os, "setpriority"):
        return None
    if nice > 0:
        for tid in _thread_ids():
            try:
                if os.getpriority(os.PRIO_PROCESS, tid) < nice:
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
            except (ProcessLookupError, PermissionError):
                continue  # the thread ended meanwhile, or the platform refuses per-thread values
    return os.getpriority(os.PRIO_PROCESS, 0)


def _thread_ids() -> list[int]:
    try:
        return [int(name) for name in os.listdir(_TASKS)]
    except OSError:
        return [0]  # not Linux: 0 means the calling process
