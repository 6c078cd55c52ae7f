"""One thread stuck in C code that never releases the GIL, another wanting it.

The hog runs a catastrophically backtracking regular expression: `(a+)+$`
against "aaaa...ab" tries ~2^n ways to split the a's before failing, and the
sre engine never drops the GIL while it searches. The eval loop's switch
request (every 5 ms) cannot interrupt C code, so the victim, a pure-Python loop
that wants the GIL all the time, waits in take_gil for the whole call (~0.5 s).

The call length is calibrated at start-up (before the victim exists) so that
one call takes about HOG_S on this machine; the measured start and end of the
real call are in the truth. The victim notes the longest gap between two of its
own loop iterations, which must cover the hog call.
"""
import math
import re
import sys
import threading
import time

import _truth

HOG_S = float(sys.argv[1]) if len(sys.argv) > 1 else 0.5
PATTERN = re.compile(r"(a+)+$")
truth = _truth.base("gil_hog")


def hog_call(n):
    t0 = time.perf_counter_ns()
    assert PATTERN.match("a" * n + "b") is None
    return time.perf_counter_ns() - t0


# Calibrate: grow n until one call is long enough to measure, then extrapolate
# (each extra 'a' doubles the work).
n = 12
while True:
    took = hog_call(n)
    if took > 20_000_000 or n > 40:
        break
    n += 1
n = max(1, n + round(math.log2(HOG_S * 1e9 / took)))
truth["calibration"] = {"n": n, "target_s": HOG_S}

victim_ready = threading.Event()
stop = threading.Event()


def victim():
    truth["victim_tid"] = threading.get_native_id()
    victim_ready.set()
    last = _truth.now()
    longest = (0, last, last)
    loops = 0
    while not stop.is_set():
        for _ in range(200):
            loops += 1
        t = _truth.now()
        if t - last > longest[0]:
            longest = (t - last, last, t)
        last = t
    truth["victim_loops"] = loops
    truth["victim_longest_gap_ns"], truth["victim_gap_start_ns"], truth["victim_gap_end_ns"] = longest


def hog():
    truth["hog_tid"] = threading.get_native_id()
    victim_ready.wait()
    time.sleep(0.05)  # let the victim get going so it is contending when the hog starts
    truth["hog_start_ns"] = _truth.now()
    PATTERN.match("a" * n + "b")
    truth["hog_end_ns"] = _truth.now()
    time.sleep(0.05)  # and let it run a little afterwards
    stop.set()


threads = [threading.Thread(target=victim, name="victim"), threading.Thread(target=hog, name="hog")]
for t in threads:
    t.start()
for t in threads:
    t.join()
truth["hog_ns"] = truth["hog_end_ns"] - truth["hog_start_ns"]
_truth.write(truth)
