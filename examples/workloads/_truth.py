"""Shared by the workloads: how each one hands its own ground truth to the tests.

Every workload measures what it did from the inside (thread ids from
threading.get_native_id(), the pid, CLOCK_MONOTONIC nanoseconds that line up
with `perf record -k CLOCK_MONOTONIC`) and writes it as JSON to the path in
GILPIPE_TRUTH. Unset: nothing is written, so the programs run fine on their own.
"""
import json
import os
import sys
import threading
import time

now = time.monotonic_ns  # the clock perf records with -k CLOCK_MONOTONIC


def base(workload):
    return {
        "workload": workload,
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "argv": sys.argv[1:],
        "clock": "CLOCK_MONOTONIC ns",
    }


def write(truth):
    path = os.environ.get("GILPIPE_TRUTH")
    if not path:
        return
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(truth, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)  # a reader never sees half a file
