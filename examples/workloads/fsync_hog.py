"""A thread that holds the GIL while it waits for the disk, and a thread that waits for it.

`journal` appends a block of data to a file and makes it durable with
fsync() called through ctypes.PyDLL: unlike ctypes.CDLL, PyDLL keeps the GIL
during the call, as a C extension does that forgets Py_BEGIN_ALLOW_THREADS
around its I/O. The thread then holds the GIL while it sleeps in the kernel
for the writeback, and `cpu`, a pure-Python loop, cannot run. A GIL tool
should say that the holder was not running: blocked, in fsync.

The truth has each fsync call's start and end (the GIL is held throughout
the call, so the call is the hold) and the cpu thread's longest gap.
`SECONDS` is how long the cpu thread runs; `MIB` the size of each block.
Threads name themselves for the kernel (prctl) as they are named here.
"""
import ctypes
import os
import sys
import tempfile
import threading
import time

import _truth

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 0.3
MIB = int(sys.argv[2]) if len(sys.argv) > 2 else 8
PR_SET_NAME = 15
libc = ctypes.CDLL(None)
holding = ctypes.PyDLL(None)  # calls through it keep the GIL
holding.fsync.argtypes = [ctypes.c_int]
truth = _truth.base("fsync_hog")
truth.update(seconds=SECONDS, mib=MIB)
go = threading.Event()
stop = threading.Event()


def name_os_thread():
    libc.prctl(PR_SET_NAME, threading.current_thread().name.encode()[:15], 0, 0, 0)


def journal():
    name_os_thread()
    truth["journal_tid"] = threading.get_native_id()
    block = os.urandom(MIB << 20)
    fd, path = tempfile.mkstemp(prefix="gilpipe-fsync-")
    calls = []
    try:
        go.wait()
        while not stop.is_set():
            os.write(fd, block)  # the GIL is released in here: the page cache fills
            t0 = _truth.now()
            if holding.fsync(fd) != 0:  # ... and kept in here, while the disk writes it
                raise OSError(ctypes.get_errno(), "fsync")
            calls.append((t0, _truth.now()))
            time.sleep(0.01)
    finally:
        os.close(fd)
        os.unlink(path)
    truth["fsyncs"] = [{"start_ns": a, "end_ns": b} for a, b in calls]
    truth["fsync_ns"] = sum(b - a for a, b in calls)


def cpu():
    name_os_thread()
    truth["cpu_tid"] = threading.get_native_id()
    go.wait()
    deadline = time.monotonic() + SECONDS
    last = _truth.now()
    longest = 0
    while time.monotonic() < deadline:
        for _ in range(200):
            pass
        t = _truth.now()
        longest = max(longest, t - last)
        last = t
    truth["cpu_longest_gap_ns"] = longest
    stop.set()


threads = [threading.Thread(target=journal, name="journal"), threading.Thread(target=cpu, name="cpu")]
for t in threads:
    t.start()
go.set()
for t in threads:
    t.join()
_truth.write(truth)
