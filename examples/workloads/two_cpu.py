"""Two CPU-bound pure-Python threads for about a second.

Both always want the GIL, so CPython hands it back and forth every switch
interval (5 ms by default): each thread spends roughly the other's hold time
waiting in take_gil, and together they hold it ~100% of the time while using
at most one CPU between them.
"""
import sys
import threading
import time

import _truth

DURATION_S = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
truth = _truth.base("two_cpu")
truth["duration_s"] = DURATION_S
truth["switch_interval_s"] = sys.getswitchinterval()
truth["threads"] = []
lock = threading.Lock()
go = threading.Event()


def spin():
    me = {"tid": threading.get_native_id(), "name": threading.current_thread().name}
    go.wait()
    me["start_ns"] = _truth.now()
    deadline = time.monotonic() + DURATION_S
    loops = 0
    while time.monotonic() < deadline:
        for _ in range(1000):  # pure bytecode: holds the GIL until asked to drop it
            loops += 1
    me["end_ns"] = _truth.now()
    me["loops"] = loops
    # CPU time this thread really got, to compare with its GIL hold time.
    me["thread_cpu_ns"] = time.thread_time_ns()
    with lock:
        truth["threads"].append(me)


ts = [threading.Thread(target=spin, name=f"cpu{i}") for i in range(2)]
for t in ts:
    t.start()
truth["start_ns"] = _truth.now()
go.set()
for t in ts:
    t.join()
truth["end_ns"] = _truth.now()
truth["threads"].sort(key=lambda th: th["name"])
_truth.write(truth)
