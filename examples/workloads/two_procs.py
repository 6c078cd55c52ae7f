"""Two separate Python processes, each with two CPU-bound threads, at once.

Each process has its own GIL: within one process at most one thread holds it
at any instant, but the two processes' holds overlap freely (2 CPUs here). A
tool that treats the GIL as machine-wide, or keys it by tid alone, gets this
wrong.

The parent starts both children together, each child reports its pid and
thread ids on stdout, and the parent writes them all to the truth.
"""
import json
import os
import subprocess
import sys
import threading
import time

import _truth

DURATION_S = 0.6


def child():
    out = {"pid": os.getpid(), "main_tid": threading.get_native_id(), "threads": []}
    lock = threading.Lock()
    go = threading.Event()

    def spin():
        me = {"tid": threading.get_native_id()}
        go.wait()
        me["start_ns"] = _truth.now()
        deadline = time.monotonic() + DURATION_S
        loops = 0
        while time.monotonic() < deadline:
            for _ in range(1000):
                loops += 1
        me["end_ns"] = _truth.now()
        me["loops"] = loops
        with lock:
            out["threads"].append(me)

    ts = [threading.Thread(target=spin) for _ in range(2)]
    for t in ts:
        t.start()
    go.set()
    for t in ts:
        t.join()
    out["threads"].sort(key=lambda th: th["tid"])
    print(json.dumps(out), flush=True)


def parent():
    truth = _truth.base("two_procs")
    truth["duration_s"] = DURATION_S
    truth["start_ns"] = _truth.now()
    kids = [subprocess.Popen([sys.executable, __file__, "--child"], stdout=subprocess.PIPE) for _ in range(2)]
    truth["children"] = []
    for k in kids:
        stdout, _ = k.communicate()
        if k.returncode != 0:
            sys.exit(f"two_procs: child {k.pid} failed with exit {k.returncode}")
        truth["children"].append(json.loads(stdout))
    truth["end_ns"] = _truth.now()
    truth["child_pids"] = [c["pid"] for c in truth["children"]]
    _truth.write(truth)


if __name__ == "__main__":
    child() if sys.argv[1:] == ["--child"] else parent()
