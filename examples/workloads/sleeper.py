"""A thread that only sleeps while the main thread joins it.

time.sleep() releases the GIL before the syscall, and join() waits on a lock
with the GIL released too, so the process has almost no GIL traffic: the
sleeper is asleep (sched state S) for 0.5 s, but it is NOT waiting for the GIL.
A tool that calls this a GIL wait is wrong.
"""
import threading
import time

import _truth

SLEEP_S = 0.5
truth = _truth.base("sleeper")


def sleeper():
    truth["sleeper_tid"] = threading.get_native_id()
    truth["sleep_start_ns"] = _truth.now()
    time.sleep(SLEEP_S)
    truth["sleep_end_ns"] = _truth.now()


t = threading.Thread(target=sleeper, name="sleeper")
truth["start_ns"] = _truth.now()
t.start()
t.join()
truth["end_ns"] = _truth.now()
truth["sleep_s"] = SLEEP_S
_truth.write(truth)
