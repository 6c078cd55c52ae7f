// gil-stats' output forms. Every form is drawn from the same `gil_stats`
// object (summary.ts) through the same columns (columns.ts): the table and
// markdown round it for reading, CSV and NDJSON carry the numbers as they
// are, JSON is the object itself.
import { displayWidth, forCsv, forMarkdown, forTerminal } from '../../lib/escape.js';
import {
  BLAME_COLUMNS,
  HOGS_CUTS,
  HOGS_VIEW,
  HOGS_WIDE_VIEW,
  HOG_COLUMNS,
  HOLDS_VIEW,
  PER4M_COLUMNS,
  PROCESS_COLUMNS,
  SCHED_ONLY_VIEW,
  THREAD_COLUMNS,
  TOP_COLUMNS,
  WAITS_CUTS,
  WAITS_VIEW,
  WINDOW_COLUMNS,
  blameRows,
  cellText,
  fmtDur,
  fmtPct,
  fmtTs,
  row,
  shown,
  type BlameRow,
  type Column,
  type Row,
  type TopRow,
} from './columns.js';
import type { GilStatsJSON, ProcessJSON, ThreadJSON, TopEntry } from './summary.js';
import { foldedText, type Weight } from './folded.js';
import { originTitle } from './labels.js';
import { formatOpenMetrics } from './openmetrics.js';
import { verdict } from './verdict.js';
import { gilFit, p4fits, schedFit } from './derive.js';

export { fmtDur, fmtPct, fmtTs, threadLabel } from './columns.js';

export const FORMATS = ['table', 'json', 'ndjson', 'csv', 'markdown', 'openmetrics', 'folded'] as const;
export type Format = (typeof FORMATS)[number];
export const CSV_TABLES = ['threads', 'processes', 'blame', 'windows', 'top', 'hogs'] as const;
export type CsvTable = (typeof CSV_TABLES)[number];

/** The form an `-o FILE` asks for by its extension (after a `.gz`); others get JSON. */
export const FORMAT_BY_EXTENSION: Readonly<Record<string, Format>> = { '.json': 'json', '.ndjson': 'ndjson', '.csv': 'csv', '.md': 'markdown', '.txt': 'table', '.folded': 'folded' };

export interface FormatOptions {
  per4m: boolean;
  /** Every column in the table (default: the columns that fit 120). */
  wide?: boolean;
  /** Rows of each list shown in the table (blame pairs, hogs, longest waits and holds). */
  top: number;
  /** Which table CSV writes. */
  table: CsvTable;
  /** Which weight --format folded writes (default blame). */
  weight?: Weight;
}

/** Every output form, by name. */
export const FORMATTERS: Readonly<Record<Format, (s: GilStatsJSON, o: FormatOptions) => string>> = {
  table: (s, o) => formatTable(s, o),
  json: (s) => JSON.stringify(s) + '\n',
  ndjson: (s) => formatNdjson(s),
  csv: (s, o) => formatCsv(s, o.table, o.per4m),
  markdown: (s, o) => formatMarkdown(s, o),
  openmetrics: (s, o) => formatOpenMetrics(s, o.top),
  folded: (s, o) => foldedText(s.folded ?? { blame: [], wait: [], offcpu: [] }, o.weight ?? 'blame'),
};

/** What to say on stderr about a summary written as `format`. */
export function notes(s: GilStatsJSON, format: Format, per4m = false): string[] {
  const out: string[] = [];
  // The table says it itself; machine-readable output would bury it.
  if (!s.gil_data && format !== 'table' && format !== 'markdown') out.push(noGilMessage(s));
  for (const p of s.processes) {
    if (p.lookback_lost_ns > 0) out.push(`process ${p.pid}: some spans reached back past the lookback buffer; their overlaps are counted as lookback_lost_ns`);
  }
  const overfull = s.threads.filter((t) => (t.derived?.gil === true && !gilFit(t)) || (t.sched && !schedFit(t))).map((t) => t.tid);
  if (overfull.length > 0) {
    const n = overfull.length;
    out.push(`${n === 1 ? 'thread' : `${n} threads`} (${overfull.slice(0, 5).join(', ')}${n > 5 ? ', ...' : ''}): states that add up to more than the thread's life (spans given twice, or out of order): the percentages of that family left out`);
  }
  const unfit = s.threads.filter((t) => t.derived?.gil === true && !p4fits(t.per4m)).length;
  if (unfit > 0 && per4m) {
    out.push(`--per4m: ${unfit} thread${unfit === 1 ? "'s" : "s'"} GIL time outgrew the span of ${unfit === 1 ? 'its' : 'their'} own events (events out of order?): per4m's percentages left out for ${unfit === 1 ? 'it' : 'them'}`);
  }
  return out;
}

export function noGilMessage(s: GilStatsJSON): string {
  const src = s.gil_sources.length > 0 ? s.gil_sources.join(', ') : 'no capture record';
  return (
    `no GIL data in this input (gil_source: ${src}): nothing can be said about who held or waited for the GIL. ` +
    `Record the take_gil/drop_gil probes (gil-record does), or libc's pthread_cond_timedwait on a stripped python.`
  );
}

// ---------------------------------------------------------------------------
// The readable forms: a list of blocks, drawn as aligned text or markdown.

interface Grid {
  head: string[];
  rows: string[][];
  /** Columns aligned left (text); the others are right-aligned numbers. */
  left: number[];
}

interface Block {
  title: string;
  lines?: string[];
  grid?: Grid;
  note?: string;
  children?: Block[];
}

/**
 * The items under the columns a readable table shows (`pick`: which, under
 * which headers; without --wide, columns marked wide are left out and
 * `cuts` cuts long names, so that the table fits 120 columns).
 */
function grid<R>(cols: ReadonlyArray<Column<R>>, items: readonly R[], pick?: Record<string, string>, wide = true, cuts: Record<string, number> = {}): Grid {
  const cs = shown(cols, pick, wide);
  const cell = (c: Column<R>, r: R): string => {
    const text = cellText(c, r);
    const n = wide ? undefined : cuts[c.key];
    return n === undefined || text.length <= n ? text : `${text.slice(0, n - 1)}…`;
  };
  return {
    head: cs.map((c) => c.head!),
    rows: items.map((r) => cs.map((c) => cell(c, r))),
    left: cs.flatMap((c, i) => (c.left ? [i] : [])),
  };
}

function blocks(s: GilStatsJSON, o: Pick<FormatOptions, 'per4m' | 'top' | 'wide'>): Block[] {
  const wide = o.wide === true;
  const out: Block[] = [];
  const gilProcs = s.processes.filter((p) => p.gil);
  const head: string[] = [
    `${s.captures} capture${s.captures === 1 ? '' : 's'} from ${s.sources.join(', ') || 'no input'}; GIL source: ${s.gil_sources.join(', ') || 'unknown'}` +
      (s.lost > 0 ? `; perf lost ${s.lost} events (${s.unknown_spans} spans cut short: figures near the gaps are uncertain)` : '') +
      (s.anomalies > 0 ? `; ${s.anomalies} anomalies` : ''),
  ];
  // The JSON says `partial`; a table read on its own must say it too.
  if (s.partial === true) head.push('partial: the input was cut short (interrupted, or broken off): these are the figures of what was read');
  if (s.first_ts !== null && s.first_ts !== undefined) {
    head.push(`times ("at") in seconds from the first event, ${fmtTs(s.first_ts)} on perf's clock (--format json keeps perf's clock)`);
  }
  if (!s.gil_data) {
    head.push(noGilMessage(s));
    out.push({ title: 'gil-stats', lines: head });
    if (s.threads.length > 0) out.push({ title: 'Threads (scheduler states only)', grid: grid(THREAD_COLUMNS, s.threads, SCHED_ONLY_VIEW, wide) });
    return out;
  }
  out.push({ title: 'gil-stats', lines: head });
  if (o.per4m) {
    out.push({
      title: "per4m's definitions (total: first to last event; has gil: take_gil return to drop_gil return)",
      grid: grid(
        PER4M_COLUMNS,
        s.threads.filter((t) => t.derived?.gil),
      ),
      note: '* main thread (tid == pid)',
    });
    return out;
  }
  const others = s.processes.length - gilProcs.length;
  if (others > 0) head.push(`${others} other process${others === 1 ? '' : 'es'} without GIL events not shown (they are in --format json)`);
  for (const p of gilProcs) out.push(processBlock(s, p, o.top, wide));
  return out;
}

function processBlock(s: GilStatsJSON, p: ProcessJSON, top: number, wide: boolean): Block {
  const d = p.derived!;
  const waiters = `(mean ${d.mean_waiters === null ? '-' : d.mean_waiters.toFixed(2)} waiters while contended, max ${p.max_waiters})`;
  const waitLine =
    `waits p50 ${fmtDur(d.wait_p50_ns)}, p90 ${fmtDur(d.wait_p90_ns)}, p99 ${fmtDur(d.wait_p99_ns)}, max ${fmtDur(d.wait_max_ns)}` +
    (p.holds_known ? `; holds p50 ${fmtDur(d.hold_p50_ns)}, p99 ${fmtDur(d.hold_p99_ns)}, max ${fmtDur(d.hold_max_ns)}` : '') +
    ' (percentiles from log histograms, ±4.4%)';
  const lines = d.withheld !== null
    ? [`process figures withheld: ${d.withheld}`, `wall ${fmtDur(p.wall_ns)}; ${p.holds} holds`, waitLine]
    : p.holds_known
    ? [
        `wall ${fmtDur(p.wall_ns)}; GIL held ${fmtPct(d.held_pct)}% of it; contended ${fmtPct(d.contention_pct)}% ${waiters}`,
        `GIL wait per second of wall time: ${d.wait_per_s === null ? '-' : d.wait_per_s.toFixed(3)} s/s; ` +
          `${p.holds} holds, ${p.switches} switches between threads, ${p.forced_switches} forced (a waiter waited >= ${fmtDur(s.options.switch_interval_ns)})`,
        `hogs (holds > ${fmtDur(s.options.hog_ns)}): ${p.hogs.count}, ${fmtDur(p.hogs.hold_ns)} in all; ` +
          (p.sched ? `held while off-CPU: ${fmtDur(p.held_offcpu_ns)} (${fmtPct(d.held_offcpu_pct)}% of hold)` : 'held while off-CPU: - (no scheduler events)'),
        waitLine,
      ]
    : [
        (p.holds > 0
          ? `no hold was seen to end (no drop_gil recorded, or each hold was cut by lost events or the end of the recording)`
          : `the GIL source (${s.gil_sources.join(', ')}) shows waits only`) +
          ': who held the GIL, and for how long, is not known here (no has gil, blame or hogs)',
        `wall ${fmtDur(p.wall_ns)}; contended ${fmtPct(d.contention_pct)}% ${waiters}`,
        `GIL wait per second of wall time: ${d.wait_per_s === null ? '-' : d.wait_per_s.toFixed(3)} s/s`,
        waitLine,
      ];
  if (p.lookback_lost_ns > 0) {
    lines.push(`${fmtDur(p.lookback_lost_ns)} of overlap could not be attributed: spans reached back past the lookback buffer`);
  }
  // The answer first: what the waiting cost and why, then the figures behind it.
  // The verdict first, a blank line after it; no verdict (waits only, no holder known): no blank line either.
  const said = verdict(s, p);
  if (said.length > 0) lines.unshift(...said, '');
  const title = `Process ${p.pid ?? '?'}${p.comm ? ` (${p.comm})` : ''}${originTitle(s, p)}`;
  const mine = (r: { pid: number | null; origin?: string }): boolean => r.pid === p.pid && r.origin === p.origin;
  const threads = s.threads.filter(mine);
  const extra: Block[] = [{ title: `Threads (% of each thread's total; * main thread${wide ? '' : '; --wide for every column'})`, grid: grid(THREAD_COLUMNS, threads, undefined, wide) }];
  const pairs = blamePairs(p, threads).slice(0, top);
  if (pairs.length > 0) {
    extra.push({ title: 'Who held while who waited (top pairs; nobody: the GIL was free, the waiter not yet running)', grid: grid(BLAME_COLUMNS, pairs) });
  }
  const hogs = p.hogs.longest.slice(0, top);
  if (hogs.length > 0) {
    extra.push({
      title: `GIL hogs (holds > ${fmtDur(s.options.hog_ns)}), by harm: the wait they caused others; uncontended last`,
      grid: wide ? grid(HOG_COLUMNS, hogs, HOGS_WIDE_VIEW) : grid(HOG_COLUMNS, hogs, HOGS_VIEW, false, HOGS_CUTS),
    });
  }
  const waits = topRows(s, 'wait').filter(mine).slice(0, top);
  if (waits.length > 0) extra.push({ title: 'Longest waits (and what their holder did meanwhile, when the hold was a hog)', grid: grid(TOP_COLUMNS, waits, WAITS_VIEW, wide, WAITS_CUTS) });
  const holds = topRows(s, 'hold').filter(mine).slice(0, top);
  if (holds.length > 0) extra.push({ title: 'Longest holds', grid: grid(TOP_COLUMNS, holds, HOLDS_VIEW) });
  const wins = s.windows.filter(mine);
  if (wins.length > 0) extra.push({ title: `Windows of ${fmtDur(s.options.interval_ns)}`, grid: grid(WINDOW_COLUMNS, wins) });
  return { title, lines, children: extra };
}

/** Blame pairs, largest first; wait while nobody held (the GIL released, the waiter not yet running) is a pair too. */
function blamePairs(p: ProcessJSON, threads: ThreadJSON[]): BlameRow[] {
  const mains = new Set(threads.filter((t) => t.main).map((t) => t.tid));
  const nobody = threads
    .filter((t) => (t.derived?.no_holder_wait_ns ?? 0) > 0)
    .map((t) => {
      const ns = t.derived!.no_holder_wait_ns!;
      return { pid: p.pid, waiter: t.tid, holder: null, ns, pct_of_wait: t.wait_ns > 0 ? (100 * ns) / t.wait_ns : null, mains };
    });
  return [...blameRows(p, mains), ...nobody].sort((x, y) => y.ns - x.ns || x.waiter - y.waiter);
}

function topRows(s: GilStatsJSON, kind: 'wait' | 'hold'): TopRow[] {
  if (kind === 'hold') return s.top.holds.map((e) => ({ ...e, kind }));
  return s.top.waits.map((e) => {
    const was = holderWas(s, e);
    return was === undefined ? { ...e, kind } : { ...e, kind, holder_was: was };
  });
}

/**
 * Why a long wait lasted: what its holder did during the hold it waited
 * for, when that hold was a hog with scheduler figures: on a CPU, runnable
 * behind other tasks, or asleep or blocked (and in what).
 */
function holderWas(s: GilStatsJSON, w: TopEntry): string | undefined {
  if (w.holder === null || w.holder === undefined) return undefined;
  const end = w.ts + w.dur_ns;
  const h = s.processes.find((p) => p.pid === w.pid && p.origin === w.origin)?.hogs.longest.find((x) => x.tid === w.holder && x.ts < end && x.ts + x.dur_ns > w.ts);
  const sc = h?.sched;
  if (!h || !sc || h.dur_ns <= 0) return undefined;
  const pct = (ns: number): string => `${((100 * ns) / h.dur_ns).toFixed(0)}%`;
  const asleep = sc.sleeping_ns + sc.blocked_ns;
  const parts = [`running ${pct(sc.running_ns)}`];
  if (sc.runnable_ns > 0) parts.push(`runnable ${pct(sc.runnable_ns)}${sc.preempted_by ? ` (its CPU went to ${sc.preempted_by.comm} (${sc.preempted_by.tid}))` : ''}`);
  if (asleep > 0) parts.push(`asleep ${pct(asleep)}${sc.blocked_in ? ` (${sc.blocked_in})` : ''}`);
  return parts.join(', ');
}

function drawTable(g: Grid): string[] {
  const { head, rows, left } = g;
  // Padded to the columns the text takes on the screen: a thread named in CJK takes two a character.
  const w = head.map((h, i) => Math.max(displayWidth(h), ...rows.map((r) => displayWidth(r[i] ?? ''))));
  const cell = (c: string, i: number): string => {
    const pad = ' '.repeat(Math.max(0, w[i]! - displayWidth(c)));
    return left.includes(i) ? c + pad : pad + c;
  };
  const line = (r: string[]): string => r.map(cell).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)];
}

function drawMarkdownTable(g: Grid): string[] {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${g.head.map(esc).join(' | ')} |`,
    `|${g.head.map((_, i) => (g.left.includes(i) ? '---' : '---:')).join('|')}|`,
    ...g.rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

function render(bs: Block[], md: boolean, depth = 0): string[] {
  const out: string[] = [];
  for (const b of bs) {
    if (md) out.push(`${'#'.repeat(Math.min(6, depth + 2))} ${b.title}`, '');
    else out.push(depth === 0 ? b.title : `${b.title}:`);
    if (b.lines) {
      for (const l of b.lines) {
        if (md) out.push(l === '' ? '' : `- ${l.trim()}`);
        else out.push(...(l === '' ? [''] : wrap(`  ${l}`, WIDTH)));
      }
    }
    if (b.grid) {
      if (md) out.push(...drawMarkdownTable(b.grid));
      else out.push(...drawTable(b.grid).map((l) => `  ${l}`));
    }
    if (b.note) out.push(md ? `\n${b.note}` : `  ${b.note}`);
    out.push('');
    if (b.children) out.push(...render(b.children, md, depth + 1));
  }
  return out;
}

/** The readable table's width: its sentences wrap, its default columns fit. */
const WIDTH = 120;

/** A line wrapped at word boundaries to `width`, continued under its text (after a `1. `, under what follows it). */
export function wrap(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const lead = /^ */.exec(line)![0].length;
  const item = /^ *(?:\d+\. |Try: )?/.exec(line)![0].length;
  const pad = ' '.repeat(Math.min(item, lead + 4));
  const out: string[] = [];
  let cur = line.slice(0, lead);
  for (const word of line.slice(lead).split(' ')) {
    const head = cur.trim() === '';
    if (!head && cur.length + 1 + word.length > width) {
      out.push(cur);
      cur = pad + word;
    } else cur += (head ? '' : ' ') + word;
  }
  out.push(cur);
  return out;
}

/**
 * The summary with its times relative to the first event of the input, as
 * the readable forms show them (the JSON, CSV and NDJSON keep perf's clock).
 */
function relative(s: GilStatsJSON): GilStatsJSON {
  const t0 = s.first_ts;
  if (t0 === null || t0 === undefined) return s;
  const r = structuredClone(s);
  for (const t of r.threads) if (t.longest_hold) t.longest_hold.ts -= t0;
  for (const p of r.processes) for (const h of p.hogs.longest) h.ts -= t0;
  for (const e of [...r.top.waits, ...r.top.holds]) e.ts -= t0;
  for (const w of r.windows) w.start_ns -= t0;
  return r;
}

export function formatTable(s: GilStatsJSON, o: Pick<FormatOptions, 'per4m' | 'top' | 'wide'>): string {
  return render(blocks(escaped(relative(s), forTerminal), o), false).join('\n').replace(/\n+$/, '\n');
}

export function formatMarkdown(s: GilStatsJSON, o: Pick<FormatOptions, 'per4m' | 'top' | 'wide'>): string {
  return render(blocks(escaped(relative(s), forMarkdown), o), true).join('\n').replace(/\n+$/, '\n');
}

/**
 * The summary with every string in it (thread names, sources, symbols and
 * files of stack frames) escaped for the medium it is shown in: all of them
 * may come from the input, and none may reach a terminal or a page raw.
 */
function escaped(s: GilStatsJSON, escape: (text: string) => string): GilStatsJSON {
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return escape(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  // The same shape, strings replaced: the one cast of a copy made here.
  return walk(s) as GilStatsJSON;
}

// ---------------------------------------------------------------------------
// CSV and NDJSON: the numbers as they are in the JSON.

interface Rows {
  keys: string[];
  rows: Row[];
}

function rowsOf<R>(cols: ReadonlyArray<Column<R>>, items: readonly R[]): Rows {
  return { keys: cols.map((c) => c.key), rows: items.map((r) => row(cols, r)) };
}

/** The rows of one table, for CSV and NDJSON. */
export function tableRows(s: GilStatsJSON, table: CsvTable, per4m: boolean): Rows {
  switch (table) {
    case 'threads':
      return rowsOf(per4m ? PER4M_COLUMNS : THREAD_COLUMNS, s.threads);
    case 'processes':
      return rowsOf(PROCESS_COLUMNS, s.processes);
    case 'blame':
      return rowsOf(BLAME_COLUMNS, s.processes.flatMap((p) => blameRows(p)));
    case 'windows':
      return rowsOf(WINDOW_COLUMNS, s.windows);
    case 'top':
      return rowsOf(TOP_COLUMNS, [...topRows(s, 'wait'), ...topRows(s, 'hold')]);
    case 'hogs':
      return rowsOf(HOG_COLUMNS, s.processes.flatMap((p) => p.hogs.longest));
  }
}

function csvCell(v: Row[string]): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? forCsv(v) : String(v);
}

/** One table as CSV; an empty table is its header alone. */
export function formatCsv(s: GilStatsJSON, table: CsvTable, per4m: boolean): string {
  const { keys, rows } = tableRows(s, table, per4m);
  return [keys.join(','), ...rows.map((r) => keys.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

/** One record per row of every table, `type` saying which: for jq. */
export function formatNdjson(s: GilStatsJSON): string {
  const lines: object[] = [
    {
      type: 'gil_stats_capture',
      version: s.version,
      gil_data: s.gil_data,
      sources: s.sources,
      captures: s.captures,
      gil_sources: s.gil_sources,
      lost: s.lost,
      anomalies: s.anomalies,
      unknown_spans: s.unknown_spans,
      diagnostics: s.diagnostics,
      options: s.options,
    },
  ];
  for (const p of s.processes) lines.push({ type: 'gil_stats_process', ...row(PROCESS_COLUMNS, p) });
  for (const t of s.threads) lines.push({ type: 'gil_stats_thread', ...row(THREAD_COLUMNS, t), per4m: t.derived!.per4m });
  for (const r of tableRows(s, 'blame', false).rows) lines.push({ type: 'gil_stats_blame', ...r });
  // A hog as it is in the JSON: its stack a list, not CSV's one cell.
  for (const p of s.processes) for (const h of p.hogs.longest) lines.push({ type: 'gil_stats_hog', ...h });
  for (const r of tableRows(s, 'top', false).rows) lines.push({ type: 'gil_stats_top', ...r });
  for (const r of tableRows(s, 'windows', false).rows) lines.push({ type: 'gil_stats_window', ...r });
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}
