# Spans (GIL and scheduler) that overlap a time window, e.g. around a latency spike.
#
#   perf-parse -i perf.data | gil-state | jq -c --argjson from 2005.99 --argjson to 2006.10 -f window.jq
#
# from/to are seconds on perf's clock, as perf script and gil-stats print times.
# Without both, jq stops with "$from is not defined".
# A span is kept when any part of it lies inside [from, to); it is not clipped.
($from * 1e9 | floor) as $a
| ($to * 1e9 | ceil) as $b
| select(.type == "span" and .ts < $b and .ts + .dur > $a)
