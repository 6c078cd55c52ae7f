// The verdict that opens gil-stats' table: a few plain sentences on how much
// of the program's thread time went to GIL waits, the top causes by harm
// (who held, in which code, how), one suggestion per cause and the figure
// that made it. Everything is drawn from the summary, so the JSON backs
// every word.
import type { GilStatsJSON, HogEntry, ProcessJSON } from './summary.js';
import { fmtDur } from './columns.js';

/** Causes named: at most this many, each with at least MIN_SHARE of the waiting. */
const CAUSES = 3;
const MIN_SHARE = 0.1;

const pct = (a: number, b: number): string => (b > 0 ? `${((100 * a) / b).toFixed(0)}%` : '-');

/** The process's own threads: of its pid and its capture (two hosts' pid 4242 are two processes). */
function threadsOf(s: GilStatsJSON, p: ProcessJSON): GilStatsJSON['threads'] {
  return s.threads.filter((t) => t.pid === p.pid && t.origin === p.origin);
}

function who(s: GilStatsJSON, p: ProcessJSON, tid: number): string {
  const t = threadsOf(s, p).find((x) => x.tid === tid);
  return t?.comm ? `${t.comm} (${tid})` : `thread ${tid}`;
}

function where(h: HogEntry): string {
  const parts: string[] = [];
  if (h.python) parts.push(`in ${h.python.function}()${h.python.file ? ` (${h.python.file.slice(h.python.file.lastIndexOf('/') + 1)})` : ''}`);
  if (h.native) parts.push(`${h.python ? 'calling' : 'in'} the C function ${h.native}`);
  return parts.join(', ');
}

/** One cause: a holder, the waiting it caused, how it held, what to do. */
function cause(s: GilStatsJSON, p: ProcessJSON, holder: number, ns: number): string[] {
  // Its long holds that hurt: a hold that made others wait a few µs is not what to fix.
  const hogs = p.hogs.longest.filter((h) => h.tid === holder && (h.blamed_ns ?? 0) >= 0.01 * ns);
  const hogNs = hogs.reduce((a, h) => a + h.blamed_ns!, 0);
  const head = `${who(s, p, holder)} made others wait ${fmtDur(ns)} (${pct(ns, p.wait_ns)} of all GIL waiting)`;
  if (hogs.length === 0 || hogNs < ns / 2) {
    const t = threadsOf(s, p).find((x) => x.tid === holder);
    const p50 = t?.derived?.hold_p50_ns ?? null;
    return [
      `${head} with many short holds: ${t?.acquisitions ?? '?'} holds, median ${fmtDur(p50)}, long ones (> ${fmtDur(s.options.hog_ns)}) only ${fmtDur(hogNs)} of it.`,
      `  Try: this is Python code taking turns every switch interval (${fmtDur(s.options.switch_interval_ns)}); run the CPU work in processes (ProcessPoolExecutor) or on a free-threaded build (3.13t). sys.setswitchinterval only changes how the time is shared.`,
    ];
  }
  const h = hogs[0]!;
  const at = where(h);
  const one = `${hogs.length === 1 ? 'one hold' : `${hogs.length} long holds, the worst`} of ${fmtDur(h.dur_ns)} while ${h.waiters ?? '?'} thread${h.waiters === 1 ? '' : 's'} waited ${fmtDur(h.blamed_ns)}`;
  const sc = h.sched;
  const off = sc ? h.dur_ns - sc.running_ns : 0;
  const asleep = sc ? sc.sleeping_ns + sc.blocked_ns : 0;
  // Off a CPU: asleep or blocked (in what), or runnable behind other tasks.
  const how = !sc
    ? ''
    : asleep >= sc.runnable_ns
    ? `asleep or blocked ${fmtDur(asleep)}${sc.blocked_in ? ` (in ${sc.blocked_in})` : ''}`
    : `runnable but not running ${fmtDur(sc.runnable_ns)} (${
        sc.preempted_by ? `its CPU went to ${sc.preempted_by.comm || '?'} (${sc.preempted_by.tid}) for ${fmtDur(sc.preempted_by_ns)} of it` : 'other tasks had its CPU'
      })`;
  if (sc && off >= h.dur_ns / 2) {
    return [
      `${head}${at ? `, ${at}` : ''}: ${one}; it held the GIL off a CPU ${pct(off, h.dur_ns)} of that hold: ${how}.`,
      asleep >= sc.runnable_ns
        ? '  Try: release the GIL around the blocking call (Py_BEGIN_ALLOW_THREADS in C; in Python, do the I/O outside the code that must hold it).'
        : '  Try: fewer busy threads or processes than CPUs, so that a holder is not preempted; or keep the hold short.',
    ];
  }
  // Off a CPU for a good part, though not most: said beside the main reason.
  const alsoOff = sc && off >= h.dur_ns / 4 ? `; off a CPU ${pct(off, h.dur_ns)} of it: ${how}` : '';
  if (h.native) {
    return [
      `${head}, ${at}: ${one}, in C code that never released the GIL${alsoOff}.`,
      `  Try: move this work to a process (ProcessPoolExecutor); if ${h.native} is your extension's, release the GIL in it (Py_BEGIN_ALLOW_THREADS).`,
    ];
  }
  return [
    `${head}${at ? `, ${at}` : ''}: ${one}${alsoOff}.`,
    '  Try: move this CPU work to a process (ProcessPoolExecutor), or a free-threaded build (3.13t).',
  ];
}

/** The verdict for one process, or nothing when it had no GIL waits to explain. */
export function verdict(s: GilStatsJSON, p: ProcessJSON): string[] {
  if (!p.holds_known || p.derived?.withheld) return [];
  const threads = threadsOf(s, p);
  const total = threads.reduce((a, t) => a + t.total_ns, 0);
  const waiters = threads.filter((t) => t.wait_ns > 0).length;
  const out = [
    `GIL waits took ${fmtDur(p.wait_ns)} of the program's ${fmtDur(total)} of thread time (${pct(p.wait_ns, total)}); ${waiters} thread${waiters === 1 ? '' : 's'} waited, at most ${p.max_waiters} at once.`,
  ];
  const byHolder = new Map<number, number>();
  for (const b of p.blame) byHolder.set(b.holder, (byHolder.get(b.holder) ?? 0) + b.ns);
  const causes = [...byHolder].sort((a, b) => b[1] - a[1]).filter(([, ns], i) => i === 0 || ns >= MIN_SHARE * p.wait_ns).slice(0, CAUSES);
  causes.forEach(([tid, ns], i) => {
    const [first, ...rest] = cause(s, p, tid, ns);
    out.push(`${i + 1}. ${first}`, ...rest);
  });
  const stacks = p.hogs.longest.some((h) => h.stack !== undefined || h.began !== undefined) || s.top.waits.some((w) => w.origin === p.origin && w.stack !== undefined);
  const pyFrames = p.hogs.longest.some((h) => h.python) || s.top.waits.some((w) => w.origin === p.origin && w.python);
  if (p.hogs.count > 0 && !stacks) {
    // gil-record --stacks puts them on sched_switch only, which a holder running on its CPU does not hit.
    out.push(
      p.callchains > 0
        ? "No stacks fell in the long holds: this recording's stacks are on other events (sched_switch, with gil-record --stacks), which a holder that stays on its CPU does not hit. Record them on the GIL probes (gil-record --py-stacks, docs/finding-code.md) to see the code."
        : 'No stacks were recorded: record callchains on the GIL probes (docs/finding-code.md) to see the code.',
    );
  }
  else if (stacks && !pyFrames) {
    out.push('No Python frames in the stacks: perf shows them only for CPython 3.12+ run with -X perf; the native frames are shown (the C function is the answer there).');
  }
  const idle = p.hogs.longest.filter((h) => h.uncontended);
  if (idle.length > 0) {
    const l = idle.reduce((a, h) => (h.dur_ns > a.dur_ns ? h : a));
    out.push(
      `${idle.length} long hold${idle.length === 1 ? '' : 's'} had nobody waiting (the longest ${fmtDur(l.dur_ns)} by ${who(s, p, l.tid)}${l.python ? ` in ${l.python.function}()` : ''}): harmless, listed last.`,
    );
  }
  return out;
}
