# GIL time per thread: how long each thread held, waited for and handed off the GIL.
#
#   perf-parse -i perf.data | gil-state | jq -s -f per-thread-totals.jq
#
# Needs -s. Threads without GIL spans (never touched the GIL) are left out.
# Times in ms; `waits` counts the wait spans, `holds` the hold spans.
(map(select(.type == "thread") | {key: (.tid | tostring), value: .comm}) | from_entries) as $names
| map(select(.type == "span" and .family == "gil"))
| group_by(.tid)
| map(
    . as $spans
    | def total($s): [$spans[] | select(.state == $s) | .dur] | add // 0 | . / 1e6;
    {
      pid: .[0].pid,
      tid: .[0].tid,
      comm: $names[.[0].tid | tostring],
      hold_ms: total("hold"),
      wait_ms: total("wait"),
      handoff_ms: total("handoff"),
      holds: (map(select(.state == "hold")) | length),
      waits: (map(select(.state == "wait")) | length)
    })
| sort_by(-.hold_ms)
| .[]
