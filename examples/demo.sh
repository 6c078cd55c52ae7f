#!/bin/sh
# The demo behind `npm run demo`: a GIL trace and the gil-stats table, on any machine.
#
# With root and a working perf it records examples/workloads/gil_hog.py live with
# gil-record (one thread stuck in a regex that never releases the GIL, another
# waiting for it). Without them it runs the same pipeline on the real capture of
# that workload shipped in examples/captures/, and says so. Either way it ends with
# a trace file to open in https://ui.perfetto.dev and the stats table.
#
# Environment: GILPIPE_DEMO_OUT (default $TMPDIR/gilpipe-demo) where files go;
# GILPIPE_PYTHON the interpreter for the live run (default python3);
# GILPIPE_DEMO_CAPTURE=1 uses the shipped capture even where recording works.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
bin="$here/../dist/bin"
out=${GILPIPE_DEMO_OUT:-${TMPDIR:-/tmp}/gilpipe-demo}
py=${GILPIPE_PYTHON:-python3}
capture="$here/captures/gil_hog.perf.txt.gz"
say() { printf 'demo: %s\n' "$*" >&2; }

[ -f "$bin/gil-record.js" ] || { say "not built: run npm run build (npm run demo does)"; exit 2; }
mkdir -p "$out"

# Why a live recording cannot happen here, or nothing when it can.
why_not_live() {
  if [ "${GILPIPE_DEMO_CAPTURE:-}" = 1 ]; then echo "GILPIPE_DEMO_CAPTURE=1"; return; fi
  if [ "$(id -u)" != 0 ]; then echo "not root (uprobes need root: sudo npm run demo records live)"; return; fi
  if ! perf --version >/dev/null 2>&1; then echo "perf is not installed (Debian: apt-get install linux-perf)"; return; fi
  if [ ! -e /sys/kernel/tracing/uprobe_events ] && [ ! -e /sys/kernel/debug/tracing/uprobe_events ]; then
    echo "no uprobe events in tracefs"; return
  fi
  if ! command -v "$py" >/dev/null 2>&1; then echo "no $py to run the workload"; return; fi
}

reason=$(why_not_live)
if [ -z "$reason" ]; then
  say "LIVE: recording examples/workloads/gil_hog.py with gil-record (perf and root are available)"
  node "$bin/gil-record.js" --perf-data "$out/perf.data" -o "$out/gil-trace.json" -- "$py" "$here/workloads/gil_hog.py"
  mode=live
else
  say "SHIPPED CAPTURE: cannot record here ($reason);"
  say "running the same pipeline on $capture (a real gil-record capture of the same workload)"
  node "$bin/perf-parse.js" "$capture" | node "$bin/gil-state.js" -o "$out/gil.ndjson"
  node "$bin/to-trace.js" "$out/gil.ndjson" -o "$out/gil-trace.json"
  node "$bin/gil-stats.js" "$out/gil.ndjson" --format table
  mode=capture
fi
say "done ($mode): open $out/gil-trace.json in https://ui.perfetto.dev (or chrome://tracing)"
