// The `gil_stats` summary: what gil-stats writes with --format json and
// reads back with --merge (docs/gil-stats.md documents it). It is part of the
// record contract between the stages, so its shape lives here alone, with
// its version.
//
// Everything a summary holds is either a sum, a count, a maximum, a histogram
// or a bounded "longest N" list: figures that add up across captures. Rates
// and percentages are derived from them at the end (derive.ts), so a merge of
// two summaries equals one run over both inputs. The `derived` blocks are
// recomputed from the raw figures and ignored by merge.
import type { HISTOGRAM_SCHEME, HistogramJSON } from '../../lib/histogram.js';

export const GIL_STATS_VERSION = 1;

/** How many hogs each process keeps with timestamps (the longest); all are counted. */
export const HOGS_KEPT = 100;

/**
 * Where the figures of a summary came from: one capture, with the host it was
 * recorded on and the user's labels. Every process, thread and window row
 * names its origin by `key`, so rows of two hosts or two captures that share
 * a pid stay apart, in one run and through --merge.
 */
export interface OriginJSON {
  /** `HOST/ID`: the host (or empty) and the capture id (or, without one, the input's name). */
  key: string;
  /** gil-state's capture id; null when the input ended without a capture record. */
  capture: string | null;
  /** The input it was read from, as named to gil-stats. */
  source: string;
  /** --label host=..., else perf's header (`# hostname`); null when neither says. */
  host: string | null;
  /** The user's --label key=value pairs (host apart). */
  labels: Record<string, string>;
  /** The capture's first and last event on the perf clock, ns. */
  first_ts: number | null;
  last_ts: number | null;
  /** perf's `# captured on` (the perf.data file's modification time), when the input had the header. */
  captured_on: string | null;
}

export interface TopEntry {
  pid: number | null;
  /** The row's origin (OriginJSON.key); absent in summaries written before origins. */
  origin?: string;
  tid: number;
  ts: number;
  dur_ns: number;
  /** The input the span came from. */
  source: string;
  /** waits: the thread that held the GIL longest during the wait, as far as seen when the wait ended. */
  holder?: number | null;
  /** waits: the waiter's Python function at take_gil's entry, and its stack, when callchains were recorded. */
  python?: { function: string; file: string } | null;
  stack?: string[];
}

export interface HogEntry extends TopEntry {
  /** The holder's stack during the hold, leaf first, when callchains were recorded (the one its events showed most). */
  stack?: string[];
  /** The holder's thread name. */
  comm?: string | null;
  /** Harm: the time other threads waited for the GIL during this hold, summed over them. 0: uncontended. */
  blamed_ns?: number;
  /** How many threads waited during it. */
  waiters?: number;
  /** Nobody waited for it: listed after the holds that hurt, however long. */
  uncontended?: true;
  /** The stack at take_gil's return: where the hold began. */
  began?: string[];
  /** The innermost Python function of the hold (its stack, else where it began); null: no Python frames were recorded. */
  python?: { function: string; file: string } | null;
  /** The C code it was in: the innermost native frame that is not the interpreter's own (`sre_ucs1_match`). */
  native?: string | null;
  /** What the holder did during the hold: on a CPU, waiting for one, asleep or blocked (and in what). */
  sched?: HogSched;
}

export interface HogSched {
  running_ns: number;
  runnable_ns: number;
  sleeping_ns: number;
  blocked_ns: number;
  /** Off CPU while holding: the kernel function of its longest sleep or block (from the switch-out stack). */
  blocked_in?: string;
  blocked_in_ns?: number;
  /** Runnable while holding: the task that had its CPU longest during the hold (sched_switch's next), and for how long in all. */
  preempted_by?: { tid: number; comm: string };
  preempted_by_ns?: number;
}

/** A wait's place in the code: the waiter's Python function at take_gil (entries of top.waits). */
export interface WaitWhere {
  python?: { function: string; file: string } | null;
  stack?: string[];
}

/** Folded stacks (gil-stats --format folded): root first, weight in ns. */
export interface FoldedJSON {
  blame: Array<{ stack: string[]; ns: number }>;
  wait: Array<{ stack: string[]; ns: number }>;
  offcpu: Array<{ stack: string[]; ns: number }>;
}

export interface ThreadJSON {
  pid: number | null;
  /** Which capture (OriginJSON.key) the row comes from; absent in summaries written before origins. */
  origin?: string;
  tid: number;
  comm: string | null;
  main: boolean;
  total_ns: number;
  wait_ns: number;
  hold_ns: number;
  handoff_ns: number;
  running_ns: number;
  runnable_ns: number;
  sleeping_ns: number;
  blocked_ns: number;
  other_ns: number;
  sched: boolean;
  waits: number;
  acquisitions: number;
  gil_sleeps: number;
  gil_sleep_ns: number;
  held_offcpu_ns: number;
  longest_hold: { ts: number; dur_ns: number; source: string } | null;
  wait_hist: HistogramJSON;
  hold_hist: HistogramJSON;
  per4m: { total_ns: number; hold_ns: number; wait_ns: number };
  derived?: ThreadDerived;
}

export interface ThreadDerived {
  gil: boolean;
  no_gil_pct: number | null;
  has_gil_pct: number | null;
  handoff_pct: number | null;
  wait_pct: number | null;
  running_pct: number | null;
  runnable_pct: number | null;
  sleeping_pct: number | null;
  blocked_pct: number | null;
  wait_p50_ns: number | null;
  wait_p90_ns: number | null;
  wait_p99_ns: number | null;
  wait_max_ns: number | null;
  hold_p50_ns: number | null;
  hold_max_ns: number | null;
  /** Wait while no other thread held the GIL: released but not yet taken (the waiter waking up, or a handoff). */
  no_holder_wait_ns: number | null;
  per4m: { total_us: number; no_gil_pct: number | null; has_gil_pct: number | null; wait_pct: number | null };
}

export interface BlameEntry {
  waiter: number;
  holder: number;
  ns: number;
  derived?: { pct_of_wait: number | null };
}

export interface ProcessJSON {
  pid: number | null;
  /** Which capture (OriginJSON.key) the row comes from; absent in summaries written before origins. */
  origin?: string;
  comm: string | null;
  gil: boolean;
  /** Holds were observed (take_gil/drop_gil probes); false when the GIL source shows waits only. */
  holds_known: boolean;
  /** Its threads were grouped by fork records, not by pids in the input (gil-state's `pids: inferred`). */
  pids_inferred: boolean;
  /** Times one of its threads took the GIL while another held it (gil-state's count). */
  two_holders: number;
  /** Its holds that overlapped another thread's hold in the spans read: gil-state never writes them (an edited or mixed stream). */
  overlapping_holds: number;
  /** Its records with a stack (spans with one, samples with a callchain): whether its recording has stacks at all. */
  callchains: number;
  sched: boolean;
  wall_ns: number;
  hold_ns: number;
  wait_ns: number;
  handoff_ns: number;
  contended_ns: number;
  max_waiters: number;
  holds: number;
  waits: number;
  switches: number;
  forced_switches: number;
  held_offcpu_ns: number;
  lookback_lost_ns: number;
  hogs: { count: number; hold_ns: number; longest: HogEntry[] };
  blame: BlameEntry[];
  wait_hist: HistogramJSON;
  hold_hist: HistogramJSON;
  derived?: ProcessDerived;
}

export interface ProcessDerived {
  /** Why the process-level figures are null, when they are: its grouping cannot be right. */
  withheld: string | null;
  held_pct: number | null;
  contention_pct: number | null;
  mean_waiters: number | null;
  wait_per_s: number | null;
  forced_pct: number | null;
  held_offcpu_pct: number | null;
  no_holder_wait_ns: number | null;
  wait_p50_ns: number | null;
  wait_p90_ns: number | null;
  wait_p99_ns: number | null;
  wait_max_ns: number | null;
  hold_p50_ns: number | null;
  hold_p99_ns: number | null;
  hold_max_ns: number | null;
}

export interface WindowJSON {
  pid: number | null;
  /** Which capture (OriginJSON.key) the row comes from; absent in summaries written before origins. */
  origin?: string;
  start_ns: number;
  wait_ns: number;
  hold_ns: number;
  contended_ns: number;
  derived?: { wait_per_s: number | null; held_pct: number | null; contention_pct: number | null };
}

export interface GilStatsJSON {
  type: 'gil_stats';
  version: number;
  options: { switch_interval_ns: number; hog_ns: number; top: number; interval_ns: number | null };
  histogram: typeof HISTOGRAM_SCHEME;
  sources: string[];
  /** A signal cut the input short: this sums up what was read before it. */
  partial?: true;
  captures: number;
  /** The ids of the captures summarised (gil-state's capture.id), so none is added twice. */
  capture_ids: string[];
  /** Each capture summarised: where it came from (hosts, labels, times). */
  origins: OriginJSON[];
  gil_sources: string[];
  gil_data: boolean;
  lost: number;
  anomalies: number;
  /** Spans gil-state closed early (`unknown`: lost events, impossible sequences). */
  unknown_spans: number;
  diagnostics: Record<string, number>;
  processes: ProcessJSON[];
  threads: ThreadJSON[];
  top: { waits: TopEntry[]; holds: TopEntry[] };
  windows: WindowJSON[];
  /** The earliest time in the input (a span's start or a thread's first event), ns: the table's times are relative to it. */
  first_ts?: number | null;
  /** Only when asked for (--format folded): the causal flame graphs' stacks. */
  folded?: FoldedJSON;
}

/** The keys of T whose values are numbers. */
type NumberKey<T> = { [K in keyof T]-?: T[K] extends number ? K : never }[keyof T];

/**
 * The figures of a thread that add up across captures (merge sums them);
 * the rest of a thread is its identity, flags and the lists that merge
 * combines its own way.
 */
export const THREAD_SUMS = [
  'total_ns',
  'wait_ns',
  'hold_ns',
  'handoff_ns',
  'running_ns',
  'runnable_ns',
  'sleeping_ns',
  'blocked_ns',
  'other_ns',
  'waits',
  'acquisitions',
  'gil_sleeps',
  'gil_sleep_ns',
  'held_offcpu_ns',
] as const satisfies ReadonlyArray<NumberKey<ThreadJSON>>;

/** The figures of a process that add up across captures (max_waiters is a maximum). */
export const PROCESS_SUMS = [
  'wall_ns',
  'hold_ns',
  'wait_ns',
  'handoff_ns',
  'contended_ns',
  'holds',
  'waits',
  'switches',
  'forced_switches',
  'held_offcpu_ns',
  'lookback_lost_ns',
  'two_holders',
  'overlapping_holds',
  'callchains',
] as const satisfies ReadonlyArray<NumberKey<ProcessJSON>>;

/** The figures of a window; all add up. */
export const WINDOW_SUMS = ['wait_ns', 'hold_ns', 'contended_ns'] as const satisfies ReadonlyArray<NumberKey<WindowJSON>>;

/** The order of every longest-N list: longest first, ties broken so that merged lists agree with one run. */
export function byLongest(a: TopEntry, b: TopEntry): number {
  return b.dur_ns - a.dur_ns || a.ts - b.ts || a.tid - b.tid || cmp(a.source, b.source) || cmp(a.origin ?? '', b.origin ?? '');
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Hogs by harm: the wait they caused first, then the longest; uncontended ones (no harm) last. */
export function byHarm(a: HogEntry, b: HogEntry): number {
  return (b.blamed_ns ?? 0) - (a.blamed_ns ?? 0) || byLongest(a, b);
}

/** Keeps the `n` longest entries (ties: earlier first), for top lists that merge. */
export function keepLongest<T extends TopEntry>(list: T[], n: number): T[] {
  list.sort(byLongest);
  if (list.length > n) list.length = n;
  return list;
}

/** The origin key of a capture: rows of different hosts, or of different captures of one host, never share one. */
export function originKey(host: string | null, capture: string | null, source: string): string {
  return `${host ?? ''}/${capture ?? source}`;
}

/** The key that tells rows apart across captures: their origin and pid (and tid). */
export function rowKey(r: { origin?: string; pid: number | null; tid?: number }): string {
  return `${r.origin ?? ''}|${r.pid}${r.tid === undefined ? '' : `:${r.tid}`}`;
}
