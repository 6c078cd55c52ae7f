"""Threads that rename themselves to thread names (comms) that break naive parsers.

Each thread sets its own kernel name with prctl(PR_SET_NAME), reads back what
the kernel kept (/proc/thread-self/comm: at most 15 bytes, cut mid-character
if need be), then contends for the GIL a little and sleeps, so that its name
shows up in sched_switch/sched_wakeup payloads, uprobe lines and
PERF_RECORD_COMM records.

The truth lists, per thread, the bytes asked for, the bytes the kernel kept,
and `expected`: those bytes as UTF-8 with invalid sequences as U+FFFD, which
is what a correct parser must report. `--newline` adds a name with a newline
in it, which perf prints raw and so splits its own lines.
"""
import ctypes
import sys
import threading
import time

import _truth

PR_SET_NAME = 15
libc = ctypes.CDLL(None, use_errno=True)

NAMES = [
    (b"my worker 1", "spaces"),
    ("gr\u00f6\u00dfer-\u03c0-\u7ebf".encode(), "UTF-8, 15 bytes exactly: a 3-byte character ends at byte 15"),
    ("\u00e4".encode() * 8, "16 bytes of UTF-8: the kernel keeps 15 and cuts the last character"),
    ("w\u00f6rker-\u00fc-\u7ebf\u7a0b".encode(), "17 bytes: cut inside a 3-byte character"),
    (b"999 42", "looks like `comm pid` or a tid column"),
    (b"t [000] 1.0: x", "looks like a cpu column and a time"),
    (b"a ==> b=c x", "the sched_switch separator and a key=value"),
    (b"col:on:1", "colons: PERF_RECORD_COMM prints comm:pid/tid"),
    (b"tab\there", "a TAB"),
    (b"  lead", "leading spaces"),
    (b"trail  ", "trailing spaces"),
    (b"x", "one letter"),
    (b"0123456789abcdefXYZ", "too long: the kernel keeps the first 15 bytes"),
]
if "--newline" in sys.argv[1:]:
    NAMES.append((b"new\nline", "a newline: perf splits the line"))
if "--hostile" in sys.argv[1:]:
    # Names that would drive a terminal or break a page if shown raw.
    NAMES += [
        (b"\x1b[2Jclear", "ESC [2J: clears the screen"),
        (b"\x1b]0;PWN\x07", "OSC 0: retitles the terminal, ended by BEL"),
        ("\u009b31mred".encode(), "a C1 control (CSI, U+009B)"),
        ("\u202etxt.exe".encode(), "a bidi override (U+202E)"),
        (b"<script>x", "HTML"),
        (b'"q",=1+2', "a quote, a comma, a formula"),
        (b"|md|*b*_", "markdown table and emphasis"),
        (b"del\x7fbs\x08", "DEL and backspace"),
    ]

WORK_S = 0.12
truth = _truth.base("comm_names")
truth["threads"] = []
lock = threading.Lock()


def work(name, why):
    if libc.prctl(PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NAME)")
    with open("/proc/thread-self/comm", "rb") as f:
        kept = f.read()[:-1]  # the kernel adds one newline
    me = {
        "tid": threading.get_native_id(),
        "why": why,
        "set_hex": name.hex(),
        "kernel_hex": kept.hex(),
        "expected": kept.decode("utf-8", errors="replace"),
        "renamed_ns": _truth.now(),
    }
    end = time.monotonic() + WORK_S
    total = 0
    while time.monotonic() < end:
        for i in range(2000):  # hold the GIL a little ...
            total += i
        time.sleep(0.002)  # ... then sleep, so the scheduler names us often
    me["end_ns"] = _truth.now()
    with lock:
        truth["threads"].append(me)


ts = [threading.Thread(target=work, args=n) for n in NAMES]
for t in ts:
    t.start()
for t in ts:
    t.join()
truth["threads"].sort(key=lambda th: th["renamed_ns"])
_truth.write(truth)
