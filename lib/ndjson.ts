// NDJSON in and out of a chain. The stages parse and serialise themselves,
// per line here and in batches per chunk in the runner, rather than through
// the ndjson package: it is several times slower on this path
// (bench/serialise.mjs), reports no line numbers, and stops at a literal
// `null` line.
import type { Context, Emit, Filter } from './filter.js';

/** A parsed JSON value as the record type T, or the reason it is not one. */
export type Narrow<T> = (value: unknown) => T | string;

/** Lines of JSON to records: a line that is not JSON, or not a record, is malformed. */
export class NdjsonDecoder<T> implements Filter<string> {
  constructor(
    private readonly emit: Emit<T>,
    private readonly ctx: Context,
    private readonly narrow: Narrow<T>,
  ) {}

  write(line: string): void {
    if (line.length === 0) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      this.ctx.malformed(`not JSON: ${preview(line)}`);
      return;
    }
    const rec = this.narrow(value);
    if (typeof rec === 'string') {
      this.ctx.malformed(`${rec}: ${preview(line)}`);
      return;
    }
    this.emit(rec);
  }

  end(): void {}
}

/** Collects output text between two flushes of the runner. */
export class TextSink {
  private buf = '';
  /** Appends text as it is. */
  text = (s: string): void => {
    this.buf += s;
  };
  take(): string {
    const s = this.buf;
    this.buf = '';
    return s;
  }
}

/** Records to lines of JSON, into a TextSink. */
export function ndjsonEncoder<T>(sink: TextSink, serialise: (rec: T) => string): Emit<T> {
  return (rec) => sink.text(serialise(rec) + '\n');
}

export function preview(text: string): string {
  const t = text.length > 60 ? text.slice(0, 57) + '...' : text;
  return JSON.stringify(t);
}
