// gil-stats --format openmetrics: a summary as OpenMetrics text, for the
// monitoring people already run (Prometheus, anything that scrapes or imports
// it). GIL wait and hold are histograms per process, in seconds, with the
// summary's log buckets mapped to `le` bounds exactly; the other totals, per
// process and per thread name, are gauges. Not counters: a summary is of the
// recordings it read, and the next one (of other recordings) may say less, which
// a counter must not; and no counter text passes both Prometheus' text parser
// (promtool, where the family is named with its _total) and OpenMetrics' (without).
// Label cardinality is bounded: a process keeps its `top` thread names by
// wait, the others are folded into thread="other".
import { forOpenMetrics } from '../../lib/escape.js';
import { LogHistogram, SUB, type HistogramJSON } from '../../lib/histogram.js';
import { RESERVED, originsByKey } from './labels.js';
import { type GilStatsJSON, type ProcessJSON, type ThreadJSON, rowKey } from './summary.js';

/**
 * The `le` bounds, in ns: 2^k - 1 for k = 8 (255 ns) to 36 (68.7 s). Every
 * one is the top of a log bucket (bucket 8k starts at 2^k ns), and durations
 * are whole ns, so the count at `le` is exactly the durations <= it: the
 * buckets below 8k, and the zero bucket.
 */
export const LE_POWERS = Array.from({ length: 29 }, (_, i) => i + 8);

/** The thread name the threads beyond a process's top N by wait are folded into. */
export const OTHER_THREADS = 'other';

const seconds = (ns: number): string => String(ns / 1e9);

/** Cumulative counts at each bound of LE_POWERS, then +Inf. */
export function leCounts(h: HistogramJSON): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  let seen = h.zero;
  let next = 0;
  for (const k of LE_POWERS) {
    while (next < h.buckets.length && h.buckets[next]![0] < k * SUB) seen += h.buckets[next++]![1];
    out.push([seconds(2 ** k - 1), seen]);
  }
  out.push(['+Inf', h.count]);
  return out;
}

type Labels = Array<[string, string]>;

function labelText(labels: Labels): string {
  return labels.map(([k, v]) => `${k}="${forOpenMetrics(v)}"`).join(',');
}

interface Family {
  name: string;
  type: 'histogram' | 'gauge';
  unit?: 'seconds';
  help: string;
  lines: string[];
}

function histogram(f: Family, labels: Labels, h: HistogramJSON): void {
  const l = labelText(labels);
  for (const [le, n] of leCounts(h)) f.lines.push(`${f.name}_bucket{${l}${l ? ',' : ''}le="${le}"} ${n}`);
  f.lines.push(`${f.name}_count{${l}} ${h.count}`, `${f.name}_sum{${l}} ${seconds(h.sum_ns)}`);
}

function gauge(f: Family, labels: Labels, value: number): void {
  f.lines.push(`${f.name}{${labelText(labels)}} ${f.unit === 'seconds' ? seconds(value) : value}`);
}

interface Proc {
  labels: Labels;
  procs: ProcessJSON[];
  wait: LogHistogram;
  hold: LogHistogram;
  threads: Map<string, { wait_ns: number; hold_ns: number; acquisitions: number; waits: number }>;
}

/**
 * The processes by their label set (host, the user's labels, pid, comm):
 * captures of one process on one host are one series, their figures added.
 */
function byLabels(s: GilStatsJSON, top: number): Proc[] {
  const origins = originsByKey(s);
  const out = new Map<string, Proc>();
  const procOf = new Map<string, Proc>();
  for (const p of s.processes) {
    const o = p.origin === undefined ? undefined : origins.get(p.origin);
    const labels: Labels = [];
    if (o?.host != null) labels.push(['host', o.host]);
    for (const [k, v] of Object.entries(o?.labels ?? {})) {
      if (!RESERVED.includes(k)) labels.push([k, v]);
    }
    labels.push(['pid', String(p.pid ?? 'unknown')], ['comm', p.comm ?? '']);
    const key = JSON.stringify(labels);
    let g = out.get(key);
    if (!g) {
      g = { labels, procs: [], wait: new LogHistogram(), hold: new LogHistogram(), threads: new Map() };
      out.set(key, g);
    }
    g.procs.push(p);
    g.wait.merge(LogHistogram.fromJSON(p.wait_hist));
    g.hold.merge(LogHistogram.fromJSON(p.hold_hist));
    procOf.set(rowKey({ origin: p.origin, pid: p.pid }), g);
  }
  for (const t of s.threads) {
    const g = procOf.get(rowKey({ origin: t.origin, pid: t.pid }));
    if (!g) continue;
    addThread(g, t.comm ?? '', t);
  }
  for (const g of out.values()) foldThreads(g, top);
  return [...out.values()];
}

function addThread(g: Proc, name: string, t: Pick<ThreadJSON, 'wait_ns' | 'hold_ns' | 'acquisitions' | 'waits'>): void {
  const x = g.threads.get(name) ?? { wait_ns: 0, hold_ns: 0, acquisitions: 0, waits: 0 };
  x.wait_ns += t.wait_ns;
  x.hold_ns += t.hold_ns;
  x.acquisitions += t.acquisitions;
  x.waits += t.waits;
  g.threads.set(name, x);
}

/** Keeps the `top` thread names by wait (ties: by name); the rest become one `other`. */
function foldThreads(g: Proc, top: number): void {
  const ranked = [...g.threads].sort((a, b) => b[1].wait_ns - a[1].wait_ns || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  if (ranked.length <= top) return;
  g.threads = new Map(ranked.slice(0, top));
  const other = g.threads.get(OTHER_THREADS);
  if (other) g.threads.delete(OTHER_THREADS);
  const rest = ranked.slice(top).map(([, x]) => x);
  if (other) rest.push(other);
  for (const x of rest) addThread(g, OTHER_THREADS, x);
}

/** The summary as OpenMetrics text, ending in `# EOF`. `top`: thread names kept per process. */
export function formatOpenMetrics(s: GilStatsJSON, top: number): string {
  const fam = (name: string, type: Family['type'], help: string, unit?: 'seconds'): Family => ({ name, type, help, lines: [], ...(unit ? { unit } : {}) });
  const wait = fam('gilpipe_gil_wait_seconds', 'histogram', 'GIL waits of the process: take_gil entry to its return, one observation per wait', 'seconds');
  const hold = fam('gilpipe_gil_hold_seconds', 'histogram', 'GIL holds of the process: take_gil return to drop_gil entry, one observation per hold', 'seconds');
  const wall = fam('gilpipe_process_recorded_seconds', 'gauge', 'Wall time the process was recorded in the summarised captures (first to last event of each)', 'seconds');
  const contended = fam('gilpipe_gil_contended_seconds', 'gauge', 'Wall time in the summarised captures during which a thread of the process waited for the GIL', 'seconds');
  const switches = fam('gilpipe_gil_switches', 'gauge', 'Times the GIL passed from one thread of the process to another in the summarised captures');
  const forced = fam('gilpipe_gil_forced_switches', 'gauge', 'Holds in the summarised captures that ended with a waiter waiting the switch interval or longer (forced switches)');
  const tWait = fam('gilpipe_thread_gil_wait_seconds', 'gauge', 'GIL wait of the threads of this name in the summarised captures (beyond the top names by wait: thread="other")', 'seconds');
  const tHold = fam('gilpipe_thread_gil_hold_seconds', 'gauge', 'GIL hold of the threads of this name in the summarised captures (beyond the top names by wait: thread="other")', 'seconds');
  const tAcq = fam('gilpipe_thread_gil_acquisitions', 'gauge', 'Times threads of this name took the GIL in the summarised captures (beyond the top names by wait: thread="other")');
  for (const g of byLabels(s, top)) {
    const gil = g.procs.some((p) => p.gil);
    const held = g.procs.every((p) => p.gil && p.holds_known);
    const whole = g.procs.every((p) => p.derived?.withheld == null);
    const sum = (k: 'wall_ns' | 'contended_ns' | 'switches' | 'forced_switches'): number => g.procs.reduce((n, p) => n + p[k], 0);
    gauge(wall, g.labels, sum('wall_ns'));
    if (gil) histogram(wait, g.labels, g.wait.toJSON());
    // Holds of waits-only sources are not known; a process of several GILs (withheld) has no process figures.
    if (held) histogram(hold, g.labels, g.hold.toJSON());
    if (gil && whole) gauge(contended, g.labels, sum('contended_ns'));
    if (held && whole) {
      gauge(switches, g.labels, sum('switches'));
      gauge(forced, g.labels, sum('forced_switches'));
    }
    if (!gil) continue;
    for (const [name, x] of g.threads) {
      const labels: Labels = [...g.labels, ['thread', name]];
      gauge(tWait, labels, x.wait_ns);
      if (held) {
        gauge(tHold, labels, x.hold_ns);
        gauge(tAcq, labels, x.acquisitions);
      }
    }
  }
  const out: string[] = [];
  for (const f of [wait, hold, wall, contended, switches, forced, tWait, tHold, tAcq]) {
    if (f.lines.length === 0) continue;
    out.push(`# TYPE ${f.name} ${f.type}`);
    if (f.unit) out.push(`# UNIT ${f.name} ${f.unit}`);
    out.push(`# HELP ${f.name} ${f.help}`, ...f.lines);
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}
