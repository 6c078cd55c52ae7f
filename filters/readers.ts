// The front of every chain that reads records: perf script's text through
// perf-parse, a perf.data through the native reader (lib/perf-data/), or
// NDJSON records as they are, chosen by what an input holds. Apart from
// filters/upstream.ts, which adds gil-state, so that perf-parse does not load
// gil-state: a slower start lets an early Ctrl-C find no handler.
import { DataError } from '../lib/errors.js';
import { type Context, compose, type Emit, type Make } from '../lib/filter.js';
import { JSON_LINES, LineSplitter, PERF_TEXT } from '../lib/lines.js';
import { PerfDataDecoder } from '../lib/perf-data/decoder.js';
import { SymbolCache } from '../lib/perf-data/symbols.js';
import { kindOf, wrongInput } from './input-kind.js';
import { PerfParser } from './perf-parse.js';
import { RecordLines } from './record-lines.js';
import type { AnyRecord } from './records.js';

export type Stage = 'perf-parse' | 'gil-state' | 'gil-stats' | 'to-trace';

/** The readers a run made, so their progress and notes can be told. */
export class Readers {
  readonly parsers: PerfParser[] = [];
  readonly recordings: PerfDataDecoder[] = [];

  constructor(protected readonly ctx: Context) {}

  parser(emit: Emit<AnyRecord>): PerfParser {
    const p = new PerfParser(emit, this.ctx);
    this.parsers.push(p);
    return p;
  }

  /** The symbol tables of the recordings read so far: a folder of one machine's recordings loads each library once. */
  private readonly tables = new SymbolCache();

  /** perf.data's records, read without perf (lib/perf-data/). */
  recording(emit: Emit<AnyRecord>): PerfDataDecoder {
    const d = new PerfDataDecoder(emit, this.ctx, { symbols: { cache: this.tables } });
    this.recordings.push(d);
    return d;
  }

  /** Lines or records read so far, for the progress line. */
  read(): number {
    let n = 0;
    for (const p of this.parsers) n += p.stats.lines;
    for (const d of this.recordings) n += d.stats.records;
    return n;
  }

  /** What perf-parse would have said, run on its own. */
  notes(): string[] {
    return [...this.parsers.flatMap((p) => p.notes()), ...this.recordings.flatMap((d) => d.notes())];
  }
}

/** A chooser for FirstLine: the chain that turns an input into records (perf-parse's, or anyone's). */
export function recordsFrom(stage: Stage, ctx: Context, up: Readers) {
  return (line: string, head: Buffer): Make<Buffer, AnyRecord> => {
    const kind = kindOf(line, head);
    const why = wrongInput(kind, stage);
    if (why !== undefined) throw new DataError(`${ctx.where.file}: ${why}`);
    if (kind === 'perf.data') return (emit) => up.recording(emit);
    // perf-parse reads whatever is not a recording as text, and says which lines are not perf script's.
    if (kind === 'perf script text' || stage === 'perf-parse') return compose((emit) => new LineSplitter(emit, ctx, PERF_TEXT), (emit) => up.parser(emit));
    return compose((emit) => new LineSplitter(emit, ctx, JSON_LINES), (emit) => new RecordLines(emit, ctx));
  };
}
