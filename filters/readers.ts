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

/** What a reader or a GilState leaves once its input ended: what it will say, and how much it read. */
export interface Ended {
  input: string;
  notes: string[];
}

/**
 * `f` itself, `done` called after its end. Not a filter wrapped in another:
 * a reader's write is every line, and a call more per line was 2 % of
 * gil-stats' CPU on perf script text.
 */
function onEnd<F extends { end(): void }>(f: F, done: () => void): F {
  const end = f.end.bind(f);
  f.end = () => {
    end();
    done();
  };
  return f;
}

/**
 * The readers a run made, so their progress and notes can be told. A reader
 * that ended is let go, keeping only its notes: one run over a folder of
 * thousands of recordings holds one reader's tables at a time, not all.
 */
export class Readers {
  private readonly parsers = new Set<PerfParser>();
  private readonly recordings = new Set<PerfDataDecoder>();
  /** Of the readers that ended: notes of perf-parse's kind, then of the native reader's, and what they read. */
  protected readonly ended = { parsers: [] as Ended[], recordings: [] as Ended[], read: 0 };

  constructor(protected readonly ctx: Context) {}

  parser(emit: Emit<AnyRecord>): PerfParser {
    const p = new PerfParser(emit, this.ctx);
    return this.kept(p, this.parsers, this.ended.parsers, () => p.stats.lines);
  }

  /** The symbol tables of the recordings read so far: a folder of one machine's recordings loads each library once. */
  private readonly tables = new SymbolCache();

  /** perf.data's records, read without perf (lib/perf-data/). */
  recording(emit: Emit<AnyRecord>): PerfDataDecoder {
    const d = new PerfDataDecoder(emit, this.ctx, { symbols: { cache: this.tables } });
    return this.kept(d, this.recordings, this.ended.recordings, () => d.stats.records);
  }

  /** `r`, live in `live` until its end, then only its notes in `ended` and its count in what was read. */
  private kept<R extends { end(): void; notes(): string[] }>(r: R, live: Set<R>, ended: Ended[], read: () => number): R {
    live.add(r);
    const input = this.ctx.where.file;
    return onEnd(r, () => {
      live.delete(r);
      this.ended.read += read();
      ended.push({ input, notes: r.notes() });
    });
  }

  /** Lines or records read so far, for the progress line. */
  read(): number {
    let n = this.ended.read;
    for (const p of this.parsers) n += p.stats.lines;
    for (const d of this.recordings) n += d.stats.records;
    return n;
  }

  /** What perf-parse would have said, run on its own. */
  notes(): string[] {
    const parsers = [...this.ended.parsers, ...[...this.parsers].map((p) => ({ input: this.ctx.where.file, notes: p.notes() }))];
    const recordings = [...this.ended.recordings, ...[...this.recordings].map((d) => ({ input: this.ctx.where.file, notes: d.notes() }))];
    return [...told(parsers), ...told(recordings)];
  }
}

/**
 * Notes of one input as they are; of many, each names the inputs it is
 * about, and a note that many share is told once: a folder of recordings, cut
 * where a call was open, is one line, not one per file.
 */
export function told(ended: readonly Ended[]): string[] {
  if (ended.length <= 1) return ended.flatMap((e) => e.notes);
  const by = new Map<string, string[]>();
  for (const { input, notes } of ended) {
    for (const note of notes) {
      const inputs = by.get(note) ?? [];
      if (inputs.at(-1) !== input) inputs.push(input);
      by.set(note, inputs);
    }
  }
  return [...by].map(([note, [first, ...rest]]) => `${first}: ${note}${rest.length > 0 ? `; the same in ${inputsNamed(rest)}` : ''}`);
}

/** `b.data`, `b.data and c.data`, or `b.data and 7 more inputs`. */
function inputsNamed(inputs: string[]): string {
  if (inputs.length <= 2) return inputs.join(' and ');
  return `${inputs[0]} and ${inputs.length - 1} more inputs`;
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
