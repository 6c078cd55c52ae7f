"""A long-running program with GIL stalls at known times, for a live view.

A victim thread runs a pure-Python loop, wanting the GIL all the time. The
hog thread stalls it twice with a backtracking `re.match` that never drops
the GIL: about 1.5 s from 3 s after the start, and about 0.7 s from 7 s; the
program ends SECONDS (default 12) after the start. Between the stalls the hog
sleeps in 10 ms steps. With --on-signal the start is when SIGUSR1 arrives
(once a recorder has attached: a stall already going on when perf attaches
cannot be seen to begin). The truth has each stall's start and end
(CLOCK_MONOTONIC ns, perf's clock) as the hog measured them, and the start.
"""
import math
import re
import signal
import sys
import threading
import time

import _truth

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] != "--on-signal" else 12.0
ON_SIGNAL = "--on-signal" in sys.argv[1:]
# (start after the program's start, length), in seconds.
STALLS = [(3.0, 1.5), (7.0, 0.7)]
PATTERN = re.compile(r"(a+)+$")
truth = _truth.base("live_hog")


def hog_call(n):
    t0 = time.perf_counter_ns()
    assert PATTERN.match("a" * n + "b") is None
    return time.perf_counter_ns() - t0


# Calibrate before anything contends (each extra 'a' doubles the work).
n = 12
while True:
    took = hog_call(n)
    if took > 20_000_000 or n > 40:
        break
    n += 1
base_n, base_took = n, took
sizes = [max(1, base_n + round(math.log2(length * 1e9 / base_took))) for _, length in STALLS]

stop = threading.Event()
go = threading.Event()
truth["stalls"] = []
start_ns = 0


def start(*_):
    global start_ns
    if not go.is_set():
        start_ns = _truth.now()
        truth["start_ns"] = start_ns
        go.set()


if ON_SIGNAL:
    # Blocked in every thread (they inherit the mask), taken by sigwait below:
    # the main thread then never needs the GIL, which would make it a third waiter.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})


def victim():
    truth["victim_tid"] = threading.get_native_id()
    loops = 0
    while not stop.is_set():
        for _ in range(200):
            loops += 1
    truth["victim_loops"] = loops


def hog():
    truth["hog_tid"] = threading.get_native_id()
    go.wait()
    for (at, length), size in zip(STALLS, sizes):
        while _truth.now() < start_ns + at * 1e9:
            time.sleep(0.01)
        s = _truth.now()
        PATTERN.match("a" * size + "b")
        e = _truth.now()
        truth["stalls"].append({"start_ns": s, "end_ns": e, "target_s": length})
    while _truth.now() < start_ns + SECONDS * 1e9:
        time.sleep(0.05)
    stop.set()


threads = [threading.Thread(target=victim, name="victim"), threading.Thread(target=hog, name="hog")]
for t in threads:
    t.start()
if ON_SIGNAL:
    print("live_hog: ready", flush=True)
    signal.sigwait({signal.SIGUSR1})
start()
for t in threads:
    t.join()
truth["end_ns"] = _truth.now()
_truth.write(truth)
print(f"live_hog: {len(truth['stalls'])} stalls done", flush=True)
