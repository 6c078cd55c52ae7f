"""One thread doing blocking I/O, one CPU-bound thread.

The I/O thread writes a small block to a temporary file and fsyncs it, over
and over: CPython releases the GIL around write() and fsync(), so each I/O
call costs the CPU thread nothing, but every return from the syscall needs the
GIL back, and the CPU thread holds it: the I/O thread waits up to a switch
interval (5 ms) after each fsync. That is the classic "convoy effect".
"""
import os
import sys
import tempfile
import threading
import time

import _truth

DURATION_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.6
truth = _truth.base("io_cpu")
truth["duration_s"] = DURATION_S
go = threading.Event()


def io():
    truth["io_tid"] = threading.get_native_id()
    block = b"x" * 4096
    fd, path = tempfile.mkstemp(prefix="gilpipe-io-")
    try:
        go.wait()
        truth["io_start_ns"] = _truth.now()
        deadline = time.monotonic() + DURATION_S
        n = 0
        syscall_ns = 0
        while time.monotonic() < deadline:
            t0 = time.perf_counter_ns()
            os.write(fd, block)  # GIL released in here ...
            os.fsync(fd)  # ... and here
            syscall_ns += time.perf_counter_ns() - t0
            n += 1
        truth["io_end_ns"] = _truth.now()
        truth["fsyncs"] = n
        # Includes re-taking the GIL after each call: compare with the GIL wait.
        truth["io_calls_total_ns"] = syscall_ns
    finally:
        os.close(fd)
        os.unlink(path)


def cpu():
    truth["cpu_tid"] = threading.get_native_id()
    go.wait()
    deadline = time.monotonic() + DURATION_S
    loops = 0
    while time.monotonic() < deadline:
        for _ in range(1000):
            loops += 1
    truth["cpu_loops"] = loops


ts = [threading.Thread(target=io, name="io"), threading.Thread(target=cpu, name="cpu")]
for t in ts:
    t.start()
truth["start_ns"] = _truth.now()
go.set()
for t in ts:
    t.join()
truth["end_ns"] = _truth.now()
_truth.write(truth)
