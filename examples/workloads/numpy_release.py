"""numpy threads that release the GIL while the main thread computes in Python.

numpy drops the GIL around each matrix multiplication (the BLAS call), so the
workers hold the GIL only for the short Python glue between calls and run
truly in parallel with the main thread's pure-Python loop on the other CPU:
many short holds, lots of take_gil/drop_gil traffic, little waiting.

BLAS is pinned to one thread per call so that the only threads are the ones
this program makes (they are in the truth).
"""
import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _truth  # noqa: E402

DURATION_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
SIZE = 256
WORKERS = 2
truth = _truth.base("numpy_release")
truth.update(duration_s=DURATION_S, matrix=SIZE, numpy=np.__version__, workers=[])
lock = threading.Lock()
go = threading.Event()


def worker(seed):
    me = {"tid": threading.get_native_id(), "name": threading.current_thread().name}
    rng = np.random.default_rng(seed)
    a = rng.random((SIZE, SIZE))
    b = rng.random((SIZE, SIZE))
    go.wait()
    me["start_ns"] = _truth.now()
    cpu0 = time.thread_time_ns()
    deadline = time.monotonic() + DURATION_S
    matmuls = 0
    while time.monotonic() < deadline:
        a @ b  # the GIL is released inside
        matmuls += 1
    me["end_ns"] = _truth.now()
    # CPU time this thread got (an independent measure of how long it ran).
    me["thread_cpu_ns"] = time.thread_time_ns() - cpu0
    me["matmuls"] = matmuls
    with lock:
        truth["workers"].append(me)


ts = [threading.Thread(target=worker, args=(i,), name=f"np{i}") for i in range(WORKERS)]
for t in ts:
    t.start()
truth["start_ns"] = _truth.now()
main_cpu0 = time.thread_time_ns()
go.set()
# Main thread: pure Python for the same time; it contends only for the glue.
deadline = time.monotonic() + DURATION_S
loops = 0
while time.monotonic() < deadline:
    for _ in range(1000):
        loops += 1
truth["main_loops"] = loops
truth["main_end_ns"] = _truth.now()
truth["main_cpu_ns"] = time.thread_time_ns() - main_cpu0
for t in ts:
    t.join()
truth["end_ns"] = _truth.now()
truth["workers"].sort(key=lambda w: w["name"])
_truth.write(truth)
