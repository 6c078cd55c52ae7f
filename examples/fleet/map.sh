#!/usr/bin/env bash
# One map step of a fleet batch: a capture to its labelled summary.
#
#   map.sh ARCHIVE CAPTURE OUT [KEY=VALUE...]
#
# CAPTURE is a perf.data or perf script text (.perf.txt, .perf.txt.gz) under
# ARCHIVE, laid out as ARCHIVE/HOST/NAME: the folder names the host (it wins
# over perf.data's own `# hostname`, which is often a container's). The
# summary goes to OUT/HOST/NAME.stats.json, written beside and renamed by
# gil-stats, so a failed or interrupted step leaves no half file. Each
# KEY=VALUE is one more label (service=api, env=prod).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: map.sh ARCHIVE CAPTURE OUT [KEY=VALUE...]" >&2; exit 2; }
archive=${1%/}; capture=$2; out=${3%/}; shift 3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if command -v gil-stats >/dev/null; then gil_stats=(gil-stats); else gil_stats=(node "$here/../../dist/bin/gil-stats.js"); fi

rel=${capture#"$archive"/}
host=${rel%%/*}
[ "$host" != "$rel" ] || { echo "map.sh: $capture is not in a HOST folder of $archive" >&2; exit 2; }
name=${rel#*/}
name=${name%.gz}; name=${name%.txt}; name=${name%.perf}; name=${name%.data}
labels=(--label "host=$host")
for kv in "$@"; do labels+=(--label "$kv"); done
mkdir -p "$out/$host"
exec "${gil_stats[@]}" "${labels[@]}" "$capture" --format json -o "$out/$host/${name//\//_}.stats.json"
