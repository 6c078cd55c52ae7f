// gil-stats --by: a summary's processes (or threads) rolled up across hosts
// and captures into groups, by host, a label, the process name or the thread
// name. Sums add; histograms add bucket by bucket, so a group's percentiles
// are those of the union of its waits and holds, never an average of
// percentiles; rates and percentages are derived from the sums.
import { UsageError } from '../../lib/errors.js';
import { HISTOGRAM_SCHEME, LogHistogram, type HistogramJSON } from '../../lib/histogram.js';
import { forCsv, forMarkdown, forTerminal } from '../../lib/escape.js';
import { fmtDur, fmtPct } from './columns.js';
import { originsByKey } from './labels.js';
import { type GilStatsJSON, type OriginJSON, rowKey } from './summary.js';

export const ROLLUP_VERSION = 1;

/** What --by groups on: `host`, `label:KEY`, `comm` (process name), `thread-name`. */
export type By = { kind: 'host' } | { kind: 'label'; key: string } | { kind: 'comm' } | { kind: 'thread-name' };

export function parseBy(text: string): By {
  if (text === 'host' || text === 'comm' || text === 'thread-name') return { kind: text };
  const m = /^label:([a-zA-Z_][a-zA-Z0-9_]*)$/.exec(text);
  if (m) return m[1] === 'host' ? { kind: 'host' } : { kind: 'label', key: m[1]! };
  throw new UsageError(`--by wants host, label:KEY, comm or thread-name, not '${text}'`);
}

export function byName(by: By): string {
  return by.kind === 'label' ? `label:${by.key}` : by.kind;
}

export interface GroupJSON {
  /** The host, label value, process or thread name; null: the rows that have none. */
  key: string | null;
  captures: number;
  processes: number;
  threads: number;
  /** The processes' wall time (thread-name groups: the threads' lifetimes), added up. */
  time_ns: number;
  wait_ns: number;
  hold_ns: number;
  handoff_ns: number;
  waits: number;
  /** Holds of the GIL (process groups: every hold; thread-name groups: acquisitions). */
  holds: number;
  wait_hist: HistogramJSON;
  hold_hist: HistogramJSON;
  derived?: GroupDerived;
}

export interface GroupDerived {
  /** Why held_pct is null although holds were recorded: a process of the group has no process figures. */
  withheld: string | null;
  held_pct: number | null;
  wait_per_s: number | null;
  wait_p50_ns: number | null;
  wait_p90_ns: number | null;
  wait_p99_ns: number | null;
  wait_max_ns: number | null;
  hold_p50_ns: number | null;
  hold_p99_ns: number | null;
  hold_max_ns: number | null;
}

export interface RollupJSON {
  type: 'gil_stats_rollup';
  version: number;
  by: string;
  histogram: typeof HISTOGRAM_SCHEME;
  sources: string[];
  origins: OriginJSON[];
  groups: GroupJSON[];
}

interface Adding {
  g: GroupJSON;
  wait: LogHistogram;
  hold: LogHistogram;
  origins: Set<string>;
  procs: Set<string>;
  /** Every process of the group has holds and process figures. */
  held: boolean;
  withheld: string | null;
}

/** The groups of `s` by `by`, in key order (null last). */
export function rollup(s: GilStatsJSON, by: By): RollupJSON {
  const origins = originsByKey(s);
  const groups = new Map<string | null, Adding>();
  const group = (key: string | null): Adding => {
    let a = groups.get(key);
    if (!a) {
      const empty = new LogHistogram().toJSON();
      a = {
        g: { key, captures: 0, processes: 0, threads: 0, time_ns: 0, wait_ns: 0, hold_ns: 0, handoff_ns: 0, waits: 0, holds: 0, wait_hist: empty, hold_hist: empty },
        wait: new LogHistogram(),
        hold: new LogHistogram(),
        origins: new Set(),
        procs: new Set(),
        held: true,
        withheld: null,
      };
      groups.set(key, a);
    }
    return a;
  };
  const keyOf = (origin: string | undefined, comm: string | null): string | null => {
    const o = origin === undefined ? undefined : origins.get(origin);
    if (by.kind === 'host') return o?.host ?? null;
    if (by.kind === 'label') return o?.labels[by.key] ?? null;
    return comm;
  };
  // A process is its origin and pid: the same pid of two captures is two processes.
  const procKey = (x: { origin?: string; pid: number | null }): string => rowKey({ origin: x.origin, pid: x.pid });
  const procOf = new Map(s.processes.map((p) => [procKey(p), p]));
  const add = (a: Adding, f: { time_ns: number; wait_ns: number; hold_ns: number; handoff_ns: number; waits: number; holds: number; wait_hist: HistogramJSON; hold_hist: HistogramJSON }): void => {
    a.g.time_ns += f.time_ns;
    a.g.wait_ns += f.wait_ns;
    a.g.hold_ns += f.hold_ns;
    a.g.handoff_ns += f.handoff_ns;
    a.g.waits += f.waits;
    a.g.holds += f.holds;
    a.wait.merge(LogHistogram.fromJSON(f.wait_hist));
    a.hold.merge(LogHistogram.fromJSON(f.hold_hist));
  };
  if (by.kind === 'thread-name') {
    for (const t of s.threads) {
      const a = group(keyOf(t.origin, t.comm));
      const p = procOf.get(procKey(t));
      a.origins.add(t.origin ?? '');
      a.procs.add(procKey(t));
      a.g.threads++;
      add(a, { ...t, time_ns: t.total_ns, holds: t.acquisitions });
      // A thread's own hold is true however its process was grouped.
      if (!p || !p.gil || !p.holds_known) a.held = false;
    }
  } else {
    const threadsOf = new Map<string, number>();
    for (const t of s.threads) threadsOf.set(procKey(t), (threadsOf.get(procKey(t)) ?? 0) + 1);
    for (const p of s.processes) {
      const a = group(keyOf(p.origin, p.comm));
      a.origins.add(p.origin ?? '');
      a.g.processes++;
      a.g.threads += threadsOf.get(procKey(p)) ?? 0;
      add(a, { ...p, time_ns: p.wall_ns });
      if (!p.gil || !p.holds_known) a.held = false;
      const why = p.derived?.withheld ?? null;
      if (why !== null) a.withheld ??= `process ${p.pid}: ${why}`;
    }
  }
  const out: GroupJSON[] = [];
  for (const a of groups.values()) {
    const g = a.g;
    g.captures = a.origins.size;
    if (by.kind === 'thread-name') g.processes = a.procs.size;
    g.wait_hist = a.wait.toJSON();
    g.hold_hist = a.hold.toJSON();
    const held = a.held && a.withheld === null;
    g.derived = {
      withheld: a.withheld,
      held_pct: held && g.time_ns > 0 ? (100 * g.hold_ns) / g.time_ns : null,
      wait_per_s: g.time_ns > 0 && g.wait_hist.count > 0 ? g.wait_ns / g.time_ns : null,
      wait_p50_ns: a.wait.percentile(0.5),
      wait_p90_ns: a.wait.percentile(0.9),
      wait_p99_ns: a.wait.percentile(0.99),
      wait_max_ns: g.wait_hist.max_ns,
      hold_p50_ns: a.hold.percentile(0.5),
      hold_p99_ns: a.hold.percentile(0.99),
      hold_max_ns: g.hold_hist.max_ns,
    };
    out.push(g);
  }
  out.sort((x, y) => (x.key === null ? 1 : y.key === null ? -1 : x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  return {
    type: 'gil_stats_rollup',
    version: ROLLUP_VERSION,
    by: byName(by),
    histogram: HISTOGRAM_SCHEME,
    sources: [...s.sources],
    origins: s.origins.map((o) => ({ ...o, labels: { ...o.labels } })),
    groups: out,
  };
}

// ------------------------------------------------------------ output

const COLUMNS: Array<[string, (g: GroupJSON) => string]> = [
  ['captures', (g) => String(g.captures)],
  ['processes', (g) => String(g.processes)],
  ['threads', (g) => String(g.threads)],
  ['time', (g) => fmtDur(g.time_ns)],
  ['held %', (g) => fmtPct(g.derived?.held_pct)],
  ['wait s/s', (g) => (g.derived?.wait_per_s == null ? '-' : g.derived.wait_per_s.toFixed(3))],
  ['waits', (g) => String(g.waits)],
  ['wait p50', (g) => fmtDur(g.derived?.wait_p50_ns)],
  ['p90', (g) => fmtDur(g.derived?.wait_p90_ns)],
  ['p99', (g) => fmtDur(g.derived?.wait_p99_ns)],
  ['max', (g) => fmtDur(g.derived?.wait_max_ns)],
  ['holds', (g) => String(g.holds)],
  ['hold p50', (g) => fmtDur(g.derived?.hold_p50_ns)],
  ['p99', (g) => fmtDur(g.derived?.hold_p99_ns)],
  ['max', (g) => fmtDur(g.derived?.hold_max_ns)],
];

function cells(r: RollupJSON, escape: (s: string) => string): string[][] {
  return r.groups.map((g) => [g.key === null ? '-' : escape(g.key), ...COLUMNS.map(([, f]) => f(g))]);
}

function title(r: RollupJSON): string {
  const what = r.by === 'thread-name' ? 'threads' : 'processes';
  return `${what} of ${r.origins.length} capture${r.origins.length === 1 ? '' : 's'} by ${r.by}, ${r.groups.length} group${r.groups.length === 1 ? '' : 's'} (percentiles of the union of each group's waits and holds, from log histograms, ±4.4%)`;
}

export function rollupTable(r: RollupJSON): string {
  const head = [r.by, ...COLUMNS.map(([h]) => h)];
  const rows = cells(r, forTerminal);
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((c) => c[i]!.length)));
  const line = (c: string[]): string => '  ' + c.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  const notes = r.groups.filter((g) => g.derived?.withheld).map((g) => `  ${g.key === null ? '-' : forTerminal(g.key)}: held % withheld: ${forTerminal(g.derived!.withheld!)}`);
  return [title(r), line(head), line(w.map((n) => '-'.repeat(n))), ...rows.map(line), ...notes].join('\n') + '\n';
}

export function rollupMarkdown(r: RollupJSON): string {
  const head = [r.by, ...COLUMNS.map(([h]) => h)];
  const esc = (c: string): string => c.replace(/\|/g, '\\|');
  const rows = cells(r, forMarkdown);
  return [`## ${title(r)}`, '', `| ${head.map(esc).join(' | ')} |`, `|---|${COLUMNS.map(() => '---:').join('|')}|`, ...rows.map((c) => `| ${c.map(esc).join(' | ')} |`)].join('\n') + '\n';
}

const CSV_KEYS = ['captures', 'processes', 'threads', 'time_ns', 'wait_ns', 'hold_ns', 'handoff_ns', 'waits', 'holds'] as const;
const CSV_DERIVED = ['held_pct', 'wait_per_s', 'wait_p50_ns', 'wait_p90_ns', 'wait_p99_ns', 'wait_max_ns', 'hold_p50_ns', 'hold_p99_ns', 'hold_max_ns'] as const;

export function rollupCsv(r: RollupJSON): string {
  const head = ['key', ...CSV_KEYS, ...CSV_DERIVED].join(',');
  const rows = r.groups.map((g) =>
    [g.key === null ? '' : forCsv(g.key), ...CSV_KEYS.map((k) => String(g[k])), ...CSV_DERIVED.map((k) => (g.derived?.[k] == null ? '' : String(g.derived[k])))].join(','),
  );
  return [head, ...rows].join('\n') + '\n';
}

export function rollupNdjson(r: RollupJSON): string {
  return r.groups.map((g) => JSON.stringify({ type: 'group', by: r.by, ...g })).join('\n') + (r.groups.length > 0 ? '\n' : '');
}

/** The forms --by writes, by --format name. */
export const ROLLUP_FORMATTERS: Readonly<Record<string, (r: RollupJSON) => string>> = {
  table: rollupTable,
  json: (r) => JSON.stringify(r) + '\n',
  ndjson: rollupNdjson,
  csv: rollupCsv,
  markdown: rollupMarkdown,
};
