// The front of a chain, chosen by what an input holds: a stage that reads
// records also reads perf script text, through perf-parse in the same process.
import { DataError } from '../lib/errors.js';
import { type Context, compose, type Make } from '../lib/filter.js';
import { JSON_LINES, LineSplitter, PERF_TEXT } from '../lib/lines.js';
import { NdjsonDecoder } from '../lib/ndjson.js';
import { kindOf, wrongInput } from './input-kind.js';
import { PerfParser } from './perf-parse.js';
import { type AnyRecord, narrow } from './records.js';

/**
 * For an input whose first line is `line`: perf script text goes through
 * perf-parse, NDJSON through the decoder; what the stage cannot read at all
 * (trace JSON, a summary, perf.data on stdin) is a DataError naming it.
 */
export function recordsFrom(stage: 'gil-state' | 'gil-stats' | 'to-trace', ctx: Context, parsers: PerfParser[] = []) {
  return (line: string, head: Buffer): Make<Buffer, AnyRecord> => {
    const kind = kindOf(line, head);
    const why = wrongInput(kind, stage);
    if (why !== undefined) throw new DataError(`${ctx.where.file}: ${why}`);
    if (kind === 'perf script text') {
      // The parsers made, so their notes (lost events, µs times) can be told at the end.
      return compose(
        (emit) => new LineSplitter(emit, ctx, PERF_TEXT),
        (emit) => {
          const p = new PerfParser(emit, ctx);
          parsers.push(p);
          return p;
        },
      );
    }
    return compose((emit) => new LineSplitter(emit, ctx, JSON_LINES), (emit) => new NdjsonDecoder(emit, ctx, narrow));
  };
}
