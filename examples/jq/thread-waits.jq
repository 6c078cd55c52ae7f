# Every GIL wait of one thread, as gil-state closes them (in time order of their end).
#
#   perf-parse -i perf.data | gil-state | jq -c --argjson tid 4242 -f thread-waits.jq
#
# Without --argjson tid, jq stops with "$tid is not defined".
# `via` says how the wait was seen: take_gil probes, or pthread_cond_timedwait
# on a stripped interpreter. `partial`/`truncated` mark waits cut by the recording's ends.
select(.type == "span" and .family == "gil" and .state == "wait" and .tid == $tid)
| {tid, at: (.ts / 1e9), ms: (.dur / 1e6), ts, dur, via, partial, truncated}
| with_entries(select(.value != null))
