"""Eight CPU-bound threads for a few seconds: a benchmark-sized capture.

Heavy GIL contention (one holder, seven waiters at any time) and a steady
stream of handoffs. Not a committed fixture: bench/ records it to measure
throughput. The duration is the first argument (default 4 s).
"""
import sys
import threading
import time

import _truth

DURATION_S = float(sys.argv[1]) if len(sys.argv) > 1 else 4.0
THREADS = int(sys.argv[2]) if len(sys.argv) > 2 else 8
# A short sleep after every 1000 iterations releases and retakes the GIL each
# time: the shape of the shared corpus's 378k-line benchmark capture (0.0005).
NAP_S = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
truth = _truth.base("busy_many")
truth.update(duration_s=DURATION_S, nap_s=NAP_S, threads=[])
lock = threading.Lock()
go = threading.Event()


def spin():
    me = {"tid": threading.get_native_id()}
    go.wait()
    deadline = time.monotonic() + DURATION_S
    loops = 0
    while time.monotonic() < deadline:
        for _ in range(1000):
            loops += 1
        if NAP_S:
            time.sleep(NAP_S)
    me["loops"] = loops
    with lock:
        truth["threads"].append(me)


ts = [threading.Thread(target=spin, name=f"busy{i}") for i in range(THREADS)]
for t in ts:
    t.start()
truth["start_ns"] = _truth.now()
go.set()
for t in ts:
    t.join()
truth["end_ns"] = _truth.now()
truth["threads"].sort(key=lambda th: th["tid"])
_truth.write(truth)
