// The columns of every gil-stats table, each defined once: its name in CSV
// and NDJSON with the value as it is, and (when the readable table shows it)
// its header, its cell rounded for reading and its alignment. CSV, NDJSON,
// the table and markdown are all drawn from these lists (format.ts).
import type { BlameEntry, HogEntry, ProcessJSON, ThreadJSON, TopEntry, WindowJSON } from './summary.js';

export type Cell = string | number | boolean | null | undefined;
/** A table row for CSV and NDJSON: column name to value, in column order. */
export type Row = Record<string, Cell>;

export interface Column<R> {
  /** The name in CSV headers and NDJSON rows. */
  key: string;
  /** What CSV and NDJSON carry: the number as it is (undefined: an empty CSV cell, no NDJSON field). */
  value: (r: R) => Cell;
  /** The header in the readable tables; none: only in CSV and NDJSON. */
  head?: string;
  /** The cell in the readable tables (default: the value as text). */
  text?: (r: R) => string;
  /** Text, aligned left; numbers are aligned right. */
  left?: true;
  /** Shown in the readable tables only with --wide (the default table fits 120 columns). */
  wide?: true;
}

// ---------------------------------------------------------------------------
// Numbers for reading, shared by the table and markdown (and by the tests
// that check the table against the JSON).

/** A duration for reading: `850 ns`, `12.3 µs`, `4.56 ms`, `1.234 s`. */
export function fmtDur(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return '-';
  const a = Math.abs(ns);
  if (a < 1e3) return `${Math.round(ns)} ns`;
  const [v, unit] = a < 1e6 ? [ns / 1e3, 'µs'] : a < 1e9 ? [ns / 1e6, 'ms'] : [ns / 1e9, 's'];
  const digits = unit === 's' ? 3 : Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return `${v.toFixed(digits)} ${unit}`;
}

/** A percentage with one decimal, or `-` where there is nothing to divide by. */
export function fmtPct(x: number | null | undefined): string {
  return x === null || x === undefined ? '-' : x.toFixed(1);
}

/** A perf-clock timestamp as perf script prints it: seconds with 6 decimals. */
export function fmtTs(ns: number | null | undefined): string {
  if (ns === null || ns === undefined) return '-';
  const s = Math.floor(ns / 1e9);
  const us = Math.floor((ns - s * 1e9) / 1e3);
  return `${s}.${String(us).padStart(6, '0')}`;
}

/** A thread's tid, `*` marking the main thread. */
export function threadLabel(t: { tid: number; main: boolean }): string {
  return t.main ? `${t.tid}*` : String(t.tid);
}

/** The same for a top-list entry, which knows only its pid. */
function topLabel(e: { pid: number | null; tid: number }): string {
  return e.pid === e.tid ? `${e.tid}*` : String(e.tid);
}

// ---------------------------------------------------------------------------
// Building tables from the columns.

/** One item as a CSV/NDJSON row. */
export function row<R>(cols: ReadonlyArray<Column<R>>, r: R): Row {
  const out: Row = {};
  for (const c of cols) out[c.key] = c.value(r);
  return out;
}

/**
 * The columns a readable table shows: those with a header, in order; or,
 * given `pick` (column name to header), those columns in that order under
 * those headers.
 */
export function shown<R>(cols: ReadonlyArray<Column<R>>, pick?: Record<string, string>, wide = true): Array<Column<R>> {
  if (pick === undefined) return cols.filter((c) => c.head !== undefined && (wide || c.wide !== true));
  return Object.entries(pick).map(([key, head]) => {
    const c = cols.find((x) => x.key === key);
    if (c === undefined) throw new Error(`no column ${key}`);
    return { ...c, head };
  });
}

/** A readable cell: the column's text, else its value as text. */
export function cellText<R>(c: Column<R>, r: R): string {
  if (c.text) return c.text(r);
  const v = c.value(r);
  return v === null || v === undefined ? '' : String(v);
}

// ---------------------------------------------------------------------------
// The tables.

const d = (t: ThreadJSON) => t.derived!;

export const THREAD_COLUMNS: ReadonlyArray<Column<ThreadJSON>> = [
  { key: 'pid', value: (t) => t.pid },
  { key: 'tid', value: (t) => t.tid, head: 'TID', text: threadLabel, left: true },
  { key: 'comm', value: (t) => t.comm, head: 'comm', text: (t) => t.comm ?? '', left: true },
  { key: 'main', value: (t) => t.main },
  { key: 'total_ns', value: (t) => t.total_ns, head: 'total', text: (t) => fmtDur(t.total_ns) },
  { key: 'no_gil_pct', value: (t) => d(t).no_gil_pct, head: 'no gil', text: (t) => fmtPct(d(t).no_gil_pct), wide: true },
  { key: 'has_gil_pct', value: (t) => d(t).has_gil_pct, head: 'has gil', text: (t) => fmtPct(d(t).has_gil_pct) },
  { key: 'handoff_pct', value: (t) => d(t).handoff_pct, head: 'handoff', text: (t) => fmtPct(d(t).handoff_pct), wide: true },
  { key: 'wait_pct', value: (t) => d(t).wait_pct, head: 'wait', text: (t) => fmtPct(d(t).wait_pct) },
  { key: 'running_pct', value: (t) => d(t).running_pct, head: 'run', text: (t) => fmtPct(d(t).running_pct) },
  { key: 'runnable_pct', value: (t) => d(t).runnable_pct, head: 'runq', text: (t) => fmtPct(d(t).runnable_pct) },
  { key: 'sleeping_pct', value: (t) => d(t).sleeping_pct, head: 'sleep', text: (t) => fmtPct(d(t).sleeping_pct) },
  { key: 'blocked_pct', value: (t) => d(t).blocked_pct, head: 'block', text: (t) => fmtPct(d(t).blocked_pct) },
  { key: 'acquisitions', value: (t) => t.acquisitions, head: 'acq', wide: true },
  { key: 'waits', value: (t) => t.waits },
  { key: 'wait_p50_ns', value: (t) => d(t).wait_p50_ns, head: 'wait p50', text: (t) => fmtDur(d(t).wait_p50_ns) },
  { key: 'wait_p90_ns', value: (t) => d(t).wait_p90_ns, head: 'p90', text: (t) => fmtDur(d(t).wait_p90_ns), wide: true },
  { key: 'wait_p99_ns', value: (t) => d(t).wait_p99_ns, head: 'p99', text: (t) => fmtDur(d(t).wait_p99_ns), wide: true },
  { key: 'wait_max_ns', value: (t) => d(t).wait_max_ns, head: 'max', text: (t) => fmtDur(d(t).wait_max_ns) },
  { key: 'no_holder_wait_ns', value: (t) => d(t).no_holder_wait_ns },
  { key: 'longest_hold_ns', value: (t) => t.longest_hold?.dur_ns, head: 'longest hold', text: (t) => fmtDur(t.longest_hold?.dur_ns) },
  { key: 'longest_hold_ts', value: (t) => t.longest_hold?.ts, head: 'at', text: (t) => fmtTs(t.longest_hold?.ts), wide: true },
  { key: 'gil_sleeps', value: (t) => t.gil_sleeps, head: 'GIL sleeps', wide: true },
  { key: 'held_offcpu_ns', value: (t) => t.held_offcpu_ns },
];

/** Without GIL data: what the scheduler says, under longer names. */
export const SCHED_ONLY_VIEW = {
  tid: 'TID',
  comm: 'comm',
  total_ns: 'total',
  running_pct: 'running %',
  runnable_pct: 'runnable %',
  sleeping_pct: 'sleeping %',
  blocked_pct: 'blocked %',
};

const p4 = (t: ThreadJSON) => t.derived!.per4m;

/** per4m's definitions and column names, to check against per4m's own table. */
export const PER4M_COLUMNS: ReadonlyArray<Column<ThreadJSON>> = [
  { key: 'pid', value: (t) => t.pid },
  { key: 'tid', value: (t) => t.tid, head: 'PID', text: threadLabel, left: true },
  { key: 'main', value: (t) => t.main },
  { key: 'total_us', value: (t) => p4(t).total_us, head: 'total(us)', text: (t) => p4(t).total_us.toFixed(1) },
  { key: 'no_gil_pct', value: (t) => p4(t).no_gil_pct, head: 'no gil%', text: (t) => fmtPct(p4(t).no_gil_pct) },
  { key: 'has_gil_pct', value: (t) => p4(t).has_gil_pct, head: 'has gil%', text: (t) => fmtPct(p4(t).has_gil_pct) },
  { key: 'wait_pct', value: (t) => p4(t).wait_pct, head: 'gil wait%', text: (t) => fmtPct(p4(t).wait_pct) },
];

const pd = (p: ProcessJSON) => p.derived!;

/** Processes: CSV and NDJSON only (the readable form gives each process a block of its own). */
export const PROCESS_COLUMNS: ReadonlyArray<Column<ProcessJSON>> = [
  { key: 'pid', value: (p) => p.pid },
  { key: 'comm', value: (p) => p.comm },
  { key: 'gil', value: (p) => p.gil },
  { key: 'wall_ns', value: (p) => p.wall_ns },
  { key: 'held_pct', value: (p) => pd(p).held_pct },
  { key: 'contention_pct', value: (p) => pd(p).contention_pct },
  { key: 'mean_waiters', value: (p) => pd(p).mean_waiters },
  { key: 'max_waiters', value: (p) => p.max_waiters },
  { key: 'wait_per_s', value: (p) => pd(p).wait_per_s },
  { key: 'holds', value: (p) => p.holds },
  { key: 'switches', value: (p) => p.switches },
  { key: 'forced_switches', value: (p) => p.forced_switches },
  { key: 'hogs', value: (p) => p.hogs.count },
  { key: 'hog_ns', value: (p) => p.hogs.hold_ns },
  { key: 'held_offcpu_ns', value: (p) => (p.sched ? p.held_offcpu_ns : null) },
  { key: 'wait_p50_ns', value: (p) => pd(p).wait_p50_ns },
  { key: 'wait_p90_ns', value: (p) => pd(p).wait_p90_ns },
  { key: 'wait_p99_ns', value: (p) => pd(p).wait_p99_ns },
  { key: 'wait_max_ns', value: (p) => pd(p).wait_max_ns },
];

/** A waiter and who held the GIL during its waits; `holder` null: nobody did (the table's "nobody" rows). */
export interface BlameRow {
  pid: number | null;
  waiter: number;
  holder: number | null;
  ns: number;
  pct_of_wait: number | null | undefined;
  /** The process's main threads, to mark them. */
  mains: ReadonlySet<number>;
}

const blameLabel = (r: BlameRow, tid: number | null): string => (tid === null ? 'nobody' : r.mains.has(tid) ? `${tid}*` : String(tid));

export const BLAME_COLUMNS: ReadonlyArray<Column<BlameRow>> = [
  { key: 'pid', value: (b) => b.pid },
  { key: 'waiter', value: (b) => b.waiter, head: 'waiter', text: (b) => blameLabel(b, b.waiter) },
  { key: 'holder', value: (b) => b.holder, head: 'holder', text: (b) => blameLabel(b, b.holder) },
  { key: 'ns', value: (b) => b.ns, head: 'held during wait', text: (b) => fmtDur(b.ns) },
  { key: 'pct_of_wait', value: (b) => b.pct_of_wait, head: "% of waiter's wait", text: (b) => fmtPct(b.pct_of_wait) },
];

/** The blame pairs of a process as rows. */
export function blameRows(p: ProcessJSON, mains: ReadonlySet<number> = new Set()): BlameRow[] {
  return p.blame.map((b: BlameEntry) => ({ pid: p.pid, waiter: b.waiter, holder: b.holder, ns: b.ns, pct_of_wait: b.derived?.pct_of_wait, mains }));
}

export const WINDOW_COLUMNS: ReadonlyArray<Column<WindowJSON>> = [
  { key: 'pid', value: (w) => w.pid },
  { key: 'start_ns', value: (w) => w.start_ns, head: 'start', text: (w) => fmtTs(w.start_ns) },
  { key: 'wait_ns', value: (w) => w.wait_ns },
  { key: 'hold_ns', value: (w) => w.hold_ns },
  { key: 'contended_ns', value: (w) => w.contended_ns },
  { key: 'wait_per_s', value: (w) => w.derived?.wait_per_s, head: 'wait s/s', text: (w) => (w.derived?.wait_per_s == null ? '-' : w.derived.wait_per_s.toFixed(3)) },
  { key: 'held_pct', value: (w) => w.derived?.held_pct, head: 'held %', text: (w) => fmtPct(w.derived!.held_pct) },
  { key: 'contention_pct', value: (w) => w.derived?.contention_pct, head: 'contended %', text: (w) => fmtPct(w.derived!.contention_pct) },
];

/** An entry of the longest waits or holds. */
/** A top-list entry as a row; a wait with what its holder was doing then (from the holder's hog, if the hold was one). */
export type TopRow = TopEntry & { kind: 'wait' | 'hold'; holder_was?: string };

export const TOP_COLUMNS: ReadonlyArray<Column<TopRow>> = [
  { key: 'kind', value: (e) => e.kind },
  { key: 'pid', value: (e) => e.pid },
  { key: 'tid', value: (e) => e.tid, text: topLabel },
  { key: 'ts', value: (e) => e.ts, text: (e) => fmtTs(e.ts) },
  { key: 'dur_ns', value: (e) => e.dur_ns, text: (e) => fmtDur(e.dur_ns) },
  { key: 'holder', value: (e) => (e.kind === 'hold' ? null : e.holder), text: (e) => (e.holder === null || e.holder === undefined ? '-' : String(e.holder)) },
  { key: 'source', value: (e) => e.source },
  { key: 'python', value: (e) => (e.python ? `${e.python.function}:${e.python.file}` : null), text: (e) => (e.python ? `${e.python.function}()` : '-'), left: true },
  { key: 'holder_was', value: (e) => e.holder_was ?? null, text: (e) => e.holder_was ?? '-', left: true },
];

export const WAITS_VIEW = { tid: 'waiter', dur_ns: 'wait', ts: 'at', python: 'waiting in', holder: 'holder', holder_was: 'the holder meanwhile' };
/** Cells the 120-column waits table cuts to this many characters. */
export const WAITS_CUTS = { python: 24, holder_was: 56 };
export const HOLDS_VIEW = { tid: 'holder', dur_ns: 'hold', ts: 'at' };

export const HOG_COLUMNS: ReadonlyArray<Column<HogEntry>> = [
  { key: 'pid', value: (h) => h.pid },
  { key: 'tid', value: (h) => h.tid, text: topLabel },
  { key: 'ts', value: (h) => h.ts, text: (h) => fmtTs(h.ts) },
  { key: 'dur_ns', value: (h) => h.dur_ns, text: (h) => fmtDur(h.dur_ns) },
  { key: 'source', value: (h) => h.source },
  { key: 'comm', value: (h) => h.comm ?? null, text: (h) => h.comm ?? '', left: true },
  { key: 'blamed_ns', value: (h) => h.blamed_ns ?? null, text: (h) => (h.uncontended ? 'uncontended' : fmtDur(h.blamed_ns)) },
  { key: 'waiters', value: (h) => h.waiters ?? null },
  { key: 'uncontended', value: (h) => h.uncontended === true },
  { key: 'python', value: (h) => (h.python ? `${h.python.function}:${h.python.file}` : null), text: (h) => (h.python ? `${h.python.function}()` : '-'), left: true },
  { key: 'native', value: (h) => h.native ?? null, text: (h) => h.native ?? '-', left: true },
  { key: 'running_ns', value: (h) => h.sched?.running_ns ?? null, text: (h) => fmtDur(h.sched?.running_ns) },
  { key: 'runnable_ns', value: (h) => h.sched?.runnable_ns ?? null, text: (h) => fmtDur(h.sched?.runnable_ns) },
  { key: 'asleep_ns', value: (h) => (h.sched ? h.sched.sleeping_ns + h.sched.blocked_ns : null), text: (h) => fmtDur(h.sched ? h.sched.sleeping_ns + h.sched.blocked_ns : null) },
  { key: 'blocked_in', value: (h) => h.sched?.blocked_in ?? null, text: (h) => h.sched?.blocked_in ?? '', left: true },
  {
    key: 'preempted_by',
    value: (h) => (h.sched?.preempted_by ? `${h.sched.preempted_by.comm} (${h.sched.preempted_by.tid})` : null),
    text: (h) => (h.sched?.preempted_by ? `${h.sched.preempted_by.comm} (${h.sched.preempted_by.tid})` : ''),
    left: true,
  },
  { key: 'began', value: (h) => h.began?.join(';') ?? null },
  { key: 'stack', value: (h) => h.stack?.join(';'), text: (h) => (h.stack ? h.stack.slice(0, 4).join(' < ') : '-'), left: true },
];

/** The hogs as the table shows them: by harm, what held, where, and whether it was running (120 columns). */
export const HOGS_VIEW = {
  tid: 'holder',
  comm: 'name',
  blamed_ns: 'harm',
  dur_ns: 'hold',
  ts: 'at',
  runnable_ns: 'runq',
  asleep_ns: 'asleep',
  python: 'python',
  native: 'C code',
};

/** Cells the 120-column hogs table cuts to this many characters. */
export const HOGS_CUTS = { python: 20, native: 18 };

/** The same with --wide: every figure and the names whole. */
export const HOGS_WIDE_VIEW = {
  tid: 'holder',
  comm: 'name',
  blamed_ns: 'harm',
  waiters: 'waiters',
  dur_ns: 'hold',
  ts: 'at',
  running_ns: 'run',
  runnable_ns: 'runq',
  asleep_ns: 'asleep',
  python: 'python',
  native: 'C code',
  blocked_in: 'blocked in',
  preempted_by: 'CPU went to',
};
