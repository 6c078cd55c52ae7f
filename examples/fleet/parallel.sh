#!/usr/bin/env bash
# A fleet batch with GNU parallel: every capture under ARCHIVE (laid out as
# ARCHIVE/HOST/NAME) to a labelled summary, then one --merge of them all.
#
#   parallel.sh ARCHIVE OUT [KEY=VALUE...]           on this machine, one job per CPU
#   JOBS=8 parallel.sh ARCHIVE OUT service=api        eight at a time
#   SSHLOGIN=8/web-1,8/web-2,: parallel.sh ...         on other hosts too (see README.md)
#
# OUT/fleet.json is the merged summary (processes of different hosts and
# captures kept apart); roll it up with gil-stats --merge OUT/fleet.json --by host.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: parallel.sh ARCHIVE OUT [KEY=VALUE...]" >&2; exit 2; }
archive=${1%/}; out=${2%/}; shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if command -v gil-stats >/dev/null; then gil_stats=(gil-stats); else gil_stats=(node "$here/../../dist/bin/gil-stats.js"); fi
command -v parallel >/dev/null || { echo "parallel.sh: GNU parallel is not installed (Debian: apt-get install parallel)" >&2; exit 2; }

remote=()
# Remote hosts need gilpipe on their PATH and read the archive from a path they share (NFS, a bucket mount).
[ -n "${SSHLOGIN:-}" ] && remote=(--sshlogin "$SSHLOGIN")
mkdir -p "$out"
# --halt now,fail=1: one failed map step stops the batch (and fails it) rather than merging a fleet with a hole.
find "$archive" -mindepth 2 -type f \( -name '*.data' -o -name '*.perf.txt' -o -name '*.perf.txt.gz' \) -print0 | sort -z |
  parallel -0 --halt now,fail=1 -j "${JOBS:-100%}" "${remote[@]}" "$here/map.sh" "$archive" {} "$out" "$@"
find "$out" -mindepth 2 -name '*.stats.json' -print0 | sort -z | xargs -0 "${gil_stats[@]}" --merge --format json -o "$out/fleet.json"
echo "parallel.sh: $out/fleet.json ($(find "$out" -mindepth 2 -name '*.stats.json' | wc -l) captures)" >&2
