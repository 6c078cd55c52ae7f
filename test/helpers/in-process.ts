// Runs the stages' filters in-process through the same chain the commands
// use (LineSplitter → PerfParser → GilState), without a process per file.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { collectingContext, connect, endAll, tee, type Filter } from '../../lib/filter.js';
import { LineSplitter, PERF_TEXT } from '../../lib/lines.js';
import { PerfParser } from '../../filters/perf-parse.js';
import { GilState, DEFAULTS } from '../../filters/gil-state.js';
import { recordJson, type AnyRecord } from '../../filters/records.js';
import { DEFAULTS as STATS_DEFAULTS, GilStats, type GilStatsJSON } from '../../filters/gil-stats.js';
import { FORMATTERS } from '../../filters/gil-stats/format.js';
import { DEFAULTS as TRACE_DEFAULTS, ToTrace } from '../../filters/to-trace.js';
import { version } from '../../lib/cli.js';

/** Feeds bytes in 64 KiB pieces, as a file stream reads, so lines straddle chunks. */
function feed(head: Filter<Buffer>, bytes: Buffer): void {
  for (let i = 0; i < bytes.length; i += 65536) head.write(bytes.subarray(i, i + 65536));
  head.endInput?.();
  endAll(head);
}

export async function perfParse(input: Buffer | string): Promise<{ out: string; malformed: string[] }> {
  const ctx = collectingContext('stdin');
  let out = '';
  const parser = new PerfParser((rec) => (out += recordJson(rec) + '\n'), ctx);
  feed(
    connect((emit) => new LineSplitter(emit, ctx, PERF_TEXT), parser),
    typeof input === 'string' ? Buffer.from(input, 'latin1') : input,
  );
  // Problems as `LINE: why`, as the tests have always read them.
  return { out, malformed: ctx.problems.map((p) => p.slice(p.indexOf(':') + 1)) };
}

/** perf-parse then gil-state on a capture file, in-process; records as objects. */
export async function pipeline(path: string): Promise<{ records: Array<Record<string, any>>; ndjson: string; problems: string[] }> {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  const ctx = collectingContext(path);
  let ndjson = '';
  const state = new GilState((r: AnyRecord) => (ndjson += recordJson(r) + '\n'), ctx, DEFAULTS);
  feed(
    connect((emit) => new LineSplitter(emit, ctx, PERF_TEXT), connect((emit) => new PerfParser(emit, ctx), state)),
    text,
  );
  return { records: ndjson.split('\n').filter(Boolean).map((l) => JSON.parse(l)), ndjson, problems: ctx.problems };
}

/** The whole chain in one process, as a command runs it on FILE, reading it as if from stdin. */
function chainTo(path: string, tail: (ctx: ReturnType<typeof collectingContext>) => Filter<AnyRecord>): void {
  const raw = readFileSync(path);
  const text = path.endsWith('.gz') ? gunzipSync(raw) : raw;
  const ctx = collectingContext('stdin');
  const last = tail(ctx);
  feed(
    connect((emit) => new LineSplitter(emit, ctx, PERF_TEXT), connect((emit) => new PerfParser(emit, ctx), connect((emit) => new GilState(emit, ctx, DEFAULTS), last))),
    text,
  );
}

/** perf-parse | gil-state | gil-stats --format json, in one process. */
export function statsJson(path: string): string {
  let summary: GilStatsJSON | undefined;
  chainTo(path, (ctx) => new GilStats((s) => (summary = s), ctx, STATS_DEFAULTS));
  return FORMATTERS.json(summary!, { per4m: false, top: STATS_DEFAULTS.top, table: 'threads' });
}

/** perf-parse | gil-state | to-trace, in one process. */
export function traceJson(path: string): string {
  let out = '';
  chainTo(path, (ctx) => new ToTrace((s) => (out += s), ctx, { ...TRACE_DEFAULTS, version: version() }));
  return out;
}

/** statsJson and traceJson from one run of the chain (gil-stats and to-trace side by side, as gil-record runs them). */
export function statsAndTraceJson(path: string): { stats: string; trace: string } {
  let summary: GilStatsJSON | undefined;
  let trace = '';
  chainTo(path, (ctx) =>
    tee([new GilStats((s) => (summary = s), ctx, STATS_DEFAULTS), new ToTrace((s) => (trace += s), ctx, { ...TRACE_DEFAULTS, version: version() })]),
  );
  return { stats: FORMATTERS.json(summary!, { per4m: false, top: STATS_DEFAULTS.top, table: 'threads' }), trace };
}

/**
 * pipeline's NDJSON (gil-state's records, as a file's name does not change
 * them) and statsAndTraceJson's summary and trace from one run of the chain:
 * gil-state's records are written out first, then go to gil-stats and to-trace
 * side by side.
 */
export function ndjsonStatsAndTraceJson(path: string): { ndjson: string; stats: string; trace: string } {
  let ndjson = '';
  let summary: GilStatsJSON | undefined;
  let trace = '';
  chainTo(path, (ctx) =>
    tee<AnyRecord>([
      { write: (r) => (ndjson += recordJson(r) + '\n'), end: () => {} },
      new GilStats((s) => (summary = s), ctx, STATS_DEFAULTS),
      new ToTrace((s) => (trace += s), ctx, { ...TRACE_DEFAULTS, version: version() }),
    ]),
  );
  return { ndjson, stats: FORMATTERS.json(summary!, { per4m: false, top: STATS_DEFAULTS.top, table: 'threads' }), trace };
}
