"""A thread pool stalled by one named Python function, then a longer hold nobody waits for.

What a user of gilpipe should learn from a recording of it: the harm comes from
`parse_all()` in the thread named `hog`, which calls a catastrophically
backtracking `re.match` (C code, `_sre`'s match, that never releases the GIL)
while four pool workers (`ThreadPoolExecutor-0_0` .. `_3`) want the GIL all
along. Later the same thread runs `tidy_up()`, a longer hold of the same kind,
after the pool has finished: nobody waits for it, so it harms nobody and must
rank below `parse_all` however long it is.

Each worker loops over small JSON and regex parsing and notes the longest gap
between two of its own iterations; that gap covers the `parse_all` call, and
the sum of the gaps is the stall the hog caused (the "blame" a GIL tool should
give `parse_all`). Both hold lengths are calibrated at start-up, before any
other thread exists.
"""
import ctypes
import json
import math
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import _truth

HOG_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.25
TIDY_S = HOG_S * 2
WORKERS = 4
PATTERN = re.compile(r"(a+)+$")
WORDS = re.compile(r"[a-z]+")
DOC = json.dumps({"items": [{"id": i, "name": f"item-{i}", "tags": ["a", "b"]} for i in range(8)]})
truth = _truth.base("pool_hog")
SET_COMM = os.environ.get("GILPIPE_SET_COMM") == "1"
PR_SET_NAME = 15


def name_os_thread():
    """The kernel's name for this thread: its threading name, cut to 15 bytes (what the kernel keeps)."""
    if SET_COMM:
        ctypes.CDLL(None).prctl(PR_SET_NAME, threading.current_thread().name.encode()[:15], 0, 0, 0)


def backtrack(n):
    assert PATTERN.match("a" * n + "b") is None


def calibrate(seconds):
    # Each extra 'a' doubles the work: time one call long enough to measure, then extrapolate.
    n = 12
    while True:
        t0 = time.perf_counter_ns()
        backtrack(n)
        took = time.perf_counter_ns() - t0
        if took > 20_000_000 or n > 40:
            break
        n += 1
    return max(1, n + round(math.log2(seconds * 1e9 / took)))


N_HOG = calibrate(HOG_S)
N_TIDY = calibrate(TIDY_S)
truth["calibration"] = {"n_hog": N_HOG, "n_tidy": N_TIDY, "hog_s": HOG_S, "tidy_s": TIDY_S}

started = threading.Barrier(WORKERS + 1)
stop = threading.Event()


def parse_task():
    me = threading.current_thread()
    name_os_thread()
    started.wait()
    last = _truth.now()
    longest = (0, last, last)
    loops = 0
    while not stop.is_set():
        doc = json.loads(DOC)
        WORDS.findall(doc["items"][loops % 8]["name"])
        loops += 1
        t = _truth.now()
        if t - last > longest[0]:
            longest = (t - last, last, t)
        last = t
    return {
        "name": me.name,
        "tid": threading.get_native_id(),
        "loops": loops,
        "longest_gap_ns": longest[0],
        "gap_start_ns": longest[1],
        "gap_end_ns": longest[2],
    }


# parse_all and tidy_up call re.match themselves, not through backtrack(): a
# profiler that sees only the innermost Python frame (perf's DWARF unwinding
# stops at the first -X perf trampoline) still names them.
def parse_all():
    cpu0 = time.thread_time_ns()
    truth["parse_all_start_ns"] = _truth.now()
    assert PATTERN.match("a" * N_HOG + "b") is None
    truth["parse_all_end_ns"] = _truth.now()
    truth["parse_all_cpu_ns"] = time.thread_time_ns() - cpu0  # less than the call when other programs had the CPU


def tidy_up():
    truth["tidy_up_start_ns"] = _truth.now()
    assert PATTERN.match("a" * N_TIDY + "b") is None
    truth["tidy_up_end_ns"] = _truth.now()


def hog(pool_done):
    truth["hog_tid"] = threading.get_native_id()
    name_os_thread()
    started.wait()
    time.sleep(0.05)  # the workers are contending by now
    parse_all()
    time.sleep(0.05)  # and run a little afterwards
    stop.set()
    pool_done.wait()  # every worker has finished: what follows stalls nobody
    time.sleep(0.02)
    tidy_up()


pool_done = threading.Event()
hog_thread = threading.Thread(target=hog, name="hog", args=(pool_done,))
hog_thread.start()
with ThreadPoolExecutor(max_workers=WORKERS) as pool:
    futures = [pool.submit(parse_task) for _ in range(WORKERS)]
    workers = [f.result() for f in futures]
pool_done.set()
hog_thread.join()

truth["workers"] = workers
truth["names"] = {str(w["tid"]): w["name"] for w in workers}
truth["names"][str(truth["hog_tid"])] = "hog"
truth["names"][str(truth["main_tid"])] = "MainThread"
truth["set_comm"] = SET_COMM
truth["parse_all_ns"] = truth["parse_all_end_ns"] - truth["parse_all_start_ns"]
truth["tidy_up_ns"] = truth["tidy_up_end_ns"] - truth["tidy_up_start_ns"]
# The stall parse_all caused: the part of each worker's longest gap that lies
# within the call (the gap also holds the wait for the other workers after it).
truth["stall_ns"] = sum(
    max(0, min(w["gap_end_ns"], truth["parse_all_end_ns"]) - max(w["gap_start_ns"], truth["parse_all_start_ns"]))
    for w in workers
)
# The same within the match alone. Right after re.match returns, the hog gives
# the GIL to a waiter before its next call and waits to get it back, so the
# call outlasts the hold; the first worker to finish its gap after the call
# began is the tight bound on when the hold ended (its iteration takes µs).
match_end = min(w["gap_end_ns"] for w in workers if w["gap_end_ns"] > truth["parse_all_start_ns"])
truth["match_end_ns"] = match_end
truth["stall_in_match_ns"] = sum(
    max(0, min(w["gap_end_ns"], match_end) - max(w["gap_start_ns"], truth["parse_all_start_ns"])) for w in workers
)
_truth.write(truth)
