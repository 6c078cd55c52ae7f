// NDJSON in and out of a chain. The stages parse and serialise themselves,
// per line here and in batches per chunk in the runner, rather than through
// the ndjson package: it is several times slower on this path
// (bench/serialise.mjs), reports no line numbers, and stops at a literal
// `null` line.
import type { Context, Emit, Filter } from './filter.js';

/** A parsed JSON value as the record type T, or the reason it is not one. */
export type Narrow<T> = (value: unknown) => T | string;

/** The deepest nesting of arrays and objects a line may have (past it, JSON.stringify would run out of stack). */
export const MAX_DEPTH = 1000;

/** Whether `line` nests arrays and objects deeper than `max`: counted outside strings. */
export function nestsDeeper(line: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \\ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** Lines of JSON to records: a line that is not JSON, or not a record, is malformed. */
export class NdjsonDecoder<T> implements Filter<string> {
  constructor(
    private readonly emit: Emit<T>,
    private readonly ctx: Context,
    private readonly narrow: Narrow<T>,
  ) {}

  write(line: string): void {
    if (line.length === 0) return;
    // Nesting that deep takes at least twice as many characters: short lines need no count.
    if (line.length > 2 * MAX_DEPTH && nestsDeeper(line, MAX_DEPTH)) {
      this.ctx.malformed(`nested deeper than ${MAX_DEPTH} levels: ${preview(line)}`);
      return;
    }
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
