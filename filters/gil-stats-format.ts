// gil-stats' output forms. Every form is drawn from the same `gil_stats`
// object (filters/gil-stats.ts): the table and markdown round it for reading,
// CSV and NDJSON carry the numbers as they are, JSON is the object itself.
import type { GilStatsJSON, ProcessJSON, ThreadJSON } from './gil-stats.js';

export const FORMATS = ['table', 'json', 'ndjson', 'csv', 'markdown'] as const;
export type Format = (typeof FORMATS)[number];
export const CSV_TABLES = ['threads', 'processes', 'blame', 'windows', 'top', 'hogs'] as const;
export type CsvTable = (typeof CSV_TABLES)[number];

export interface FormatOptions {
  per4m: boolean;
  /** Rows of each list shown in the table (blame pairs, hogs, longest waits and holds). */
  top: number;
}

// ---------------------------------------------------------------------------
// Number formatting shared by the table and markdown (and by the tests that
// check the table against the JSON).

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

function topLabel(e: { pid: number | null; tid: number }): string {
  return e.pid === e.tid ? `${e.tid}*` : String(e.tid);
}

export function threadLabel(t: { tid: number; main: boolean }): string {
  return t.main ? `${t.tid}*` : String(t.tid);
}

// ---------------------------------------------------------------------------
// The readable forms: a list of blocks, drawn as aligned text or markdown.

interface Block {
  title: string;
  lines?: string[];
  head?: string[];
  rows?: string[][];
  /** Columns aligned left (text); the others are right-aligned numbers. */
  left?: number[];
  note?: string;
  children?: Block[];
}

export function noGilMessage(s: GilStatsJSON): string {
  const src = s.gil_sources.length > 0 ? s.gil_sources.join(', ') : 'no capture record';
  return (
    `no GIL data in this input (gil_source: ${src}): nothing can be said about who held or waited for the GIL. ` +
    `Record the take_gil/drop_gil probes (gil-record does), or libc's pthread_cond_timedwait on a stripped python.`
  );
}

function blocks(s: GilStatsJSON, o: FormatOptions): Block[] {
  const out: Block[] = [];
  const gilProcs = s.processes.filter((p) => p.gil);
  const head: string[] = [
    `${s.captures} capture${s.captures === 1 ? '' : 's'} from ${s.sources.join(', ') || 'no input'}; GIL source: ${s.gil_sources.join(', ') || 'unknown'}` +
      (s.lost > 0 ? `; perf lost ${s.lost} events (${s.unknown_spans} spans cut short: figures near the gaps are uncertain)` : '') +
      (s.anomalies > 0 ? `; ${s.anomalies} anomalies` : ''),
  ];
  if (!s.gil_data) {
    head.push(noGilMessage(s));
    out.push({ title: 'gil-stats', lines: head });
    const rows = s.threads.map((t) => [
      threadLabel(t),
      t.comm ?? '',
      fmtDur(t.total_ns),
      fmtPct(t.derived?.running_pct),
      fmtPct(t.derived?.runnable_pct),
      fmtPct(t.derived?.sleeping_pct),
      fmtPct(t.derived?.blocked_pct),
    ]);
    if (rows.length > 0) {
      out.push({
        title: 'Threads (scheduler states only)',
        head: ['TID', 'comm', 'total', 'running %', 'runnable %', 'sleeping %', 'blocked %'],
        rows,
        left: [0, 1],
      });
    }
    return out;
  }
  out.push({ title: 'gil-stats', lines: head });
  if (o.per4m) {
    out.push(per4mBlock(s));
    return out;
  }
  const others = s.processes.length - gilProcs.length;
  if (others > 0) head.push(`${others} other process${others === 1 ? '' : 'es'} without GIL events not shown (they are in --format json)`);
  for (const p of gilProcs) out.push(processBlock(s, p, o));
  return out;
}

function per4mBlock(s: GilStatsJSON): Block {
  const rows = s.threads
    .filter((t) => t.derived?.gil)
    .map((t) => {
      const d = t.derived!.per4m;
      return [threadLabel(t), d.total_us.toFixed(1), fmtPct(d.no_gil_pct), fmtPct(d.has_gil_pct), fmtPct(d.wait_pct)];
    });
  return {
    title: "per4m's definitions (total: first to last event; has gil: take_gil return to drop_gil return)",
    head: ['PID', 'total(us)', 'no gil%', 'has gil%', 'gil wait%'],
    rows,
    left: [0],
    note: '* main thread (tid == pid)',
  };
}

function processBlock(s: GilStatsJSON, p: ProcessJSON, o: FormatOptions): Block {
  const d = p.derived!;
  const waiters = `(mean ${d.mean_waiters === null ? '-' : d.mean_waiters.toFixed(2)} waiters while contended, max ${p.max_waiters})`;
  const waitLine =
    `waits p50 ${fmtDur(d.wait_p50_ns)}, p90 ${fmtDur(d.wait_p90_ns)}, p99 ${fmtDur(d.wait_p99_ns)}, max ${fmtDur(d.wait_max_ns)}` +
    (p.holds_known ? `; holds p50 ${fmtDur(d.hold_p50_ns)}, p99 ${fmtDur(d.hold_p99_ns)}, max ${fmtDur(d.hold_max_ns)}` : '') +
    ' (percentiles from log histograms, ±4.4%)';
  const lines = p.holds_known
    ? [
        `wall ${fmtDur(p.wall_ns)}; GIL held ${fmtPct(d.held_pct)}% of it; contended ${fmtPct(d.contention_pct)}% ${waiters}`,
        `GIL wait per second of wall time: ${d.wait_per_s === null ? '-' : d.wait_per_s.toFixed(3)} s/s; ` +
          `${p.holds} holds, ${p.switches} switches between threads, ${p.forced_switches} forced (a waiter waited >= ${fmtDur(s.options.switch_interval_ns)})`,
        `hogs (holds > ${fmtDur(s.options.hog_ns)}): ${p.hogs.count}, ${fmtDur(p.hogs.hold_ns)} in all; ` +
          (p.sched ? `held while off-CPU: ${fmtDur(p.held_offcpu_ns)} (${fmtPct(d.held_offcpu_pct)}% of hold)` : 'held while off-CPU: - (no scheduler events)'),
        waitLine,
      ]
    : [
        `the GIL source (${s.gil_sources.join(', ')}) shows waits only: who held the GIL, and for how long, is not known here (no has gil, blame or hogs)`,
        `wall ${fmtDur(p.wall_ns)}; contended ${fmtPct(d.contention_pct)}% ${waiters}`,
        `GIL wait per second of wall time: ${d.wait_per_s === null ? '-' : d.wait_per_s.toFixed(3)} s/s`,
        waitLine,
      ];
  if (p.lookback_lost_ns > 0) {
    lines.push(`${fmtDur(p.lookback_lost_ns)} of overlap could not be attributed: spans reached back past the lookback buffer`);
  }
  const title = `Process ${p.pid ?? '?'}${p.comm ? ` (${p.comm})` : ''}`;
  const threads = s.threads.filter((t) => t.pid === p.pid);
  const tb = threadRows(threads);
  const extra: Block[] = [tb];
  // Wait while nobody held (the GIL released, the waiter not yet running) is a pair too.
  const pairs = [
    ...p.blame.map((b) => ({ waiter: b.waiter, holder: b.holder as number | null, ns: b.ns, pct: b.derived?.pct_of_wait ?? null })),
    ...threads
      .filter((t) => (t.derived?.no_holder_wait_ns ?? 0) > 0)
      .map((t) => ({ waiter: t.tid, holder: null, ns: t.derived!.no_holder_wait_ns!, pct: t.wait_ns > 0 ? (100 * t.derived!.no_holder_wait_ns!) / t.wait_ns : null })),
  ]
    .sort((x, y) => y.ns - x.ns || x.waiter - y.waiter)
    .slice(0, o.top);
  if (pairs.length > 0) {
    const main = new Set(threads.filter((t) => t.main).map((t) => t.tid));
    const lab = (tid: number | null): string => (tid === null ? 'nobody' : main.has(tid) ? `${tid}*` : String(tid));
    extra.push({
      title: 'Who held while who waited (top pairs; nobody: the GIL was free, the waiter not yet running)',
      head: ['waiter', 'holder', 'held during wait', "% of waiter's wait"],
      rows: pairs.map((b) => [lab(b.waiter), lab(b.holder), fmtDur(b.ns), fmtPct(b.pct)]),
    });
  }
  const hogs = p.hogs.longest.slice(0, o.top);
  if (hogs.length > 0) {
    extra.push({
      title: `GIL hogs (holds > ${fmtDur(s.options.hog_ns)}), longest first`,
      head: ['holder', 'hold', 'at', 'stack (leaf first)'],
      rows: hogs.map((h) => [topLabel(h), fmtDur(h.dur_ns), fmtTs(h.ts), h.stack ? h.stack.slice(0, 4).join(' < ') : '-']),
      left: [3],
    });
  }
  const waits = s.top.waits.filter((w) => w.pid === p.pid).slice(0, o.top);
  if (waits.length > 0) {
    extra.push({
      title: 'Longest waits',
      head: ['waiter', 'wait', 'at', 'holder'],
      rows: waits.map((w) => [topLabel(w), fmtDur(w.dur_ns), fmtTs(w.ts), w.holder === null || w.holder === undefined ? '-' : String(w.holder)]),
    });
  }
  const holds = s.top.holds.filter((w) => w.pid === p.pid).slice(0, o.top);
  if (holds.length > 0) {
    extra.push({ title: 'Longest holds', head: ['holder', 'hold', 'at'], rows: holds.map((w) => [topLabel(w), fmtDur(w.dur_ns), fmtTs(w.ts)]) });
  }
  const wins = s.windows.filter((w) => w.pid === p.pid);
  if (wins.length > 0) {
    extra.push({
      title: `Windows of ${fmtDur(s.options.interval_ns)}`,
      head: ['start', 'wait s/s', 'held %', 'contended %'],
      rows: wins.map((w) => [fmtTs(w.start_ns), w.derived!.wait_per_s.toFixed(3), fmtPct(w.derived!.held_pct), fmtPct(w.derived!.contention_pct)]),
    });
  }
  return { title, lines, children: extra };
}

function threadRows(threads: ThreadJSON[]): Block {
  return {
    title: 'Threads (% of each thread\'s total; * main thread)',
    head: [
      'TID',
      'comm',
      'total',
      'no gil',
      'has gil',
      'handoff',
      'wait',
      'run',
      'runq',
      'sleep',
      'block',
      'acq',
      'wait p50',
      'p90',
      'p99',
      'max',
      'longest hold',
      'at',
      'GIL sleeps',
    ],
    left: [0, 1],
    rows: threads.map((t) => {
      const d = t.derived!;
      return [
        threadLabel(t),
        t.comm ?? '',
        fmtDur(t.total_ns),
        fmtPct(d.no_gil_pct),
        fmtPct(d.has_gil_pct),
        fmtPct(d.handoff_pct),
        fmtPct(d.wait_pct),
        fmtPct(d.running_pct),
        fmtPct(d.runnable_pct),
        fmtPct(d.sleeping_pct),
        fmtPct(d.blocked_pct),
        String(t.acquisitions),
        fmtDur(d.wait_p50_ns),
        fmtDur(d.wait_p90_ns),
        fmtDur(d.wait_p99_ns),
        fmtDur(d.wait_max_ns),
        fmtDur(t.longest_hold?.dur_ns),
        fmtTs(t.longest_hold?.ts),
        String(t.gil_sleeps),
      ];
    }),
  };
}

function drawTable(head: string[], rows: string[][], left: number[] = []): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const cell = (c: string, i: number): string => (left.includes(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!));
  const line = (r: string[]): string => r.map(cell).join('  ').trimEnd();
  return [line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line)];
}

function drawMarkdownTable(head: string[], rows: string[][], left: number[] = []): string[] {
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map((_, i) => (left.includes(i) ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ];
}

function render(bs: Block[], md: boolean, depth = 0): string[] {
  const out: string[] = [];
  for (const b of bs) {
    if (md) out.push(`${'#'.repeat(Math.min(6, depth + 2))} ${b.title}`, '');
    else out.push(depth === 0 ? b.title : `${b.title}:`);
    if (b.lines) {
      for (const l of b.lines) out.push(md ? `- ${l}` : `  ${l}`);
    }
    if (b.head && b.rows) {
      if (md) out.push(...drawMarkdownTable(b.head, b.rows, b.left));
      else out.push(...drawTable(b.head, b.rows, b.left).map((l) => `  ${l}`));
    }
    if (b.note) out.push(md ? `\n${b.note}` : `  ${b.note}`);
    out.push('');
    if (b.children) out.push(...render(b.children, md, depth + 1));
  }
  return out;
}

export function formatTable(s: GilStatsJSON, o: FormatOptions): string {
  return render(blocks(s, o), false).join('\n').replace(/\n+$/, '\n');
}

export function formatMarkdown(s: GilStatsJSON, o: FormatOptions): string {
  return render(blocks(s, o), true).join('\n').replace(/\n+$/, '\n');
}

// ---------------------------------------------------------------------------
// CSV and NDJSON: the numbers as they are in the JSON.

type Row = Record<string, string | number | boolean | null | undefined>;

export function csvRows(s: GilStatsJSON, table: CsvTable, per4m: boolean): Row[] {
  switch (table) {
    case 'threads':
      return s.threads.map((t) => (per4m ? per4mRow(t) : threadRow(t)));
    case 'processes':
      return s.processes.map(processRow);
    case 'blame':
      return s.processes.flatMap((p) =>
        p.blame.map((b) => ({ pid: p.pid, waiter: b.waiter, holder: b.holder, ns: b.ns, pct_of_wait: b.derived?.pct_of_wait })),
      );
    case 'windows':
      return s.windows.map((w) => ({
        pid: w.pid,
        start_ns: w.start_ns,
        wait_ns: w.wait_ns,
        hold_ns: w.hold_ns,
        contended_ns: w.contended_ns,
        wait_per_s: w.derived?.wait_per_s,
        held_pct: w.derived?.held_pct,
        contention_pct: w.derived?.contention_pct,
      }));
    case 'top':
      return [
        ...s.top.waits.map((w) => ({ kind: 'wait', pid: w.pid, tid: w.tid, ts: w.ts, dur_ns: w.dur_ns, holder: w.holder, source: w.source })),
        ...s.top.holds.map((w) => ({ kind: 'hold', pid: w.pid, tid: w.tid, ts: w.ts, dur_ns: w.dur_ns, holder: null, source: w.source })),
      ];
    case 'hogs':
      return s.processes.flatMap((p) =>
        p.hogs.longest.map((h) => ({ pid: h.pid, tid: h.tid, ts: h.ts, dur_ns: h.dur_ns, source: h.source, stack: h.stack?.join(';') })),
      );
  }
}

export function threadRow(t: ThreadJSON): Row {
  const d = t.derived!;
  return {
    pid: t.pid,
    tid: t.tid,
    comm: t.comm,
    main: t.main,
    total_ns: t.total_ns,
    no_gil_pct: d.no_gil_pct,
    has_gil_pct: d.has_gil_pct,
    handoff_pct: d.handoff_pct,
    wait_pct: d.wait_pct,
    running_pct: d.running_pct,
    runnable_pct: d.runnable_pct,
    sleeping_pct: d.sleeping_pct,
    blocked_pct: d.blocked_pct,
    acquisitions: t.acquisitions,
    waits: t.waits,
    wait_p50_ns: d.wait_p50_ns,
    wait_p90_ns: d.wait_p90_ns,
    wait_p99_ns: d.wait_p99_ns,
    wait_max_ns: d.wait_max_ns,
    no_holder_wait_ns: d.no_holder_wait_ns,
    longest_hold_ns: t.longest_hold?.dur_ns,
    longest_hold_ts: t.longest_hold?.ts,
    gil_sleeps: t.gil_sleeps,
    held_offcpu_ns: t.held_offcpu_ns,
  };
}

function per4mRow(t: ThreadJSON): Row {
  const d = t.derived!.per4m;
  return { pid: t.pid, tid: t.tid, main: t.main, total_us: d.total_us, no_gil_pct: d.no_gil_pct, has_gil_pct: d.has_gil_pct, wait_pct: d.wait_pct };
}

function processRow(p: ProcessJSON): Row {
  const d = p.derived!;
  return {
    pid: p.pid,
    comm: p.comm,
    gil: p.gil,
    wall_ns: p.wall_ns,
    held_pct: d.held_pct,
    contention_pct: d.contention_pct,
    mean_waiters: d.mean_waiters,
    max_waiters: p.max_waiters,
    wait_per_s: d.wait_per_s,
    holds: p.holds,
    switches: p.switches,
    forced_switches: p.forced_switches,
    hogs: p.hogs.count,
    hog_ns: p.hogs.hold_ns,
    held_offcpu_ns: p.sched ? p.held_offcpu_ns : null,
    wait_p50_ns: d.wait_p50_ns,
    wait_p90_ns: d.wait_p90_ns,
    wait_p99_ns: d.wait_p99_ns,
    wait_max_ns: d.wait_max_ns,
  };
}

function csvCell(v: Row[string]): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function formatCsv(s: GilStatsJSON, table: CsvTable, per4m: boolean): string {
  const rows = csvRows(s, table, per4m);
  const cols = rows.length > 0 ? Object.keys(rows[0]!) : Object.keys(emptyColumns(s, table, per4m));
  return [cols.join(','), ...rows.map((r) => cols.map((c) => csvCell(r[c])).join(','))].join('\n') + '\n';
}

// The header of an empty table still names its columns.
function emptyColumns(_s: GilStatsJSON, table: CsvTable, per4m: boolean): Row {
  const cols: Record<CsvTable, string[]> = {
    threads: per4m ? ['pid', 'tid', 'main', 'total_us', 'no_gil_pct', 'has_gil_pct', 'wait_pct'] : ['pid', 'tid', 'comm', 'main', 'total_ns'],
    processes: ['pid', 'comm', 'gil', 'wall_ns'],
    blame: ['pid', 'waiter', 'holder', 'ns', 'pct_of_wait'],
    windows: ['pid', 'start_ns', 'wait_ns', 'hold_ns', 'contended_ns', 'wait_per_s', 'held_pct', 'contention_pct'],
    top: ['kind', 'pid', 'tid', 'ts', 'dur_ns', 'holder', 'source'],
    hogs: ['pid', 'tid', 'ts', 'dur_ns', 'source', 'stack'],
  };
  return Object.fromEntries(cols[table].map((c) => [c, null]));
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
  for (const p of s.processes) lines.push({ type: 'gil_stats_process', ...processRow(p) });
  for (const t of s.threads) lines.push({ type: 'gil_stats_thread', ...threadRow(t), per4m: t.derived!.per4m });
  for (const r of csvRows(s, 'blame', false)) lines.push({ type: 'gil_stats_blame', ...r });
  for (const p of s.processes) for (const h of p.hogs.longest) lines.push({ type: 'gil_stats_hog', ...h });
  for (const r of csvRows(s, 'top', false)) lines.push({ type: 'gil_stats_top', ...r });
  for (const r of csvRows(s, 'windows', false)) lines.push({ type: 'gil_stats_window', ...r });
  return lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
}
