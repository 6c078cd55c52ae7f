# The longest GIL holds, longest first: who kept the GIL from everyone else.
#
#   perf-parse -i perf.data | gil-state | jq -s -f longest-holds.jq
#   ... | jq -s --argjson n 3 -f longest-holds.jq        # the top 3 (default 10)
#
# Needs -s: sorting wants every span at once. `ts` is perf's clock in ns
# (CLOCK_MONOTONIC with gil-record), `at` the same in seconds as perf script prints it.
[ .[] | select(.type == "span" and .family == "gil" and .state == "hold") ]
| sort_by(-.dur)
| .[: ($ARGS.named.n // 10)]
| .[]
| {pid, tid, at: (.ts / 1e9), ms: (.dur / 1e6), ts, dur}
