// The stage kit: bytes in, lines with numbers, records out as NDJSON.
//
// Each stage's logic lives in filters/ as a plain object that is fed one line
// or one record at a time and emits records through a callback; this module
// turns that into a streaming command. The transform is through2 in byte
// mode; lines are split and JSON is parsed and serialised here in batches per
// chunk rather than through ndjson, which is about 2.5x slower on this path
// and reports no line numbers (bench/ndjson.mjs measures it).
import { StringDecoder } from 'node:string_decoder';
import type { Transform } from 'node:stream';
import through2 from 'through2';
import { DataError, Malformed, Output, type Input, Interrupt, openInput } from './cli.js';

/** Collects serialised output between two writes. */
export class Sink {
  buf = '';
  constructor(private readonly serialise: (rec: object) => string = JSON.stringify) {}
  /** Appends one record as a line of JSON. */
  emit = (rec: object): void => {
    this.buf += this.serialise(rec) + '\n';
  };
  /** Appends a line that is already serialised. */
  raw(line: string): void {
    this.buf += line + '\n';
  }
  take(): string {
    const s = this.buf;
    this.buf = '';
    return s;
  }
}

export interface LineHandler {
  /** One whole line: no `\n`, a trailing `\r` removed. */
  line(text: string, lineno: number): void;
  /** Text after the last newline at end of input: a cut line. */
  cut(text: string, lineno: number): void;
  /** End of this input. */
  end(): void;
}

/**
 * A through2 byte-mode transform that splits its input into lines, hands them
 * to `handler`, and pushes whatever `sink` collected after each chunk.
 * `latin1` keeps one character per byte (perf-parse measures comm widths in
 * bytes and fixes UTF-8 up when it writes strings); `utf8` is for JSON input.
 */
export function lineTransform(encoding: 'latin1' | 'utf8', handler: LineHandler, sink: Sink): Transform {
  const decoder = new StringDecoder(encoding);
  let rest = '';
  let lineno = 0;
  const feed = (text: string): void => {
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl === -1) {
      rest += text;
      return;
    }
    let first = true;
    while (nl !== -1) {
      let line = first ? rest + text.slice(start, nl) : text.slice(start, nl);
      first = false;
      if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
      handler.line(line, ++lineno);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    rest = text.slice(start);
  };
  return through2(
    function transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: string) => void) {
      try {
        feed(decoder.write(chunk));
      } catch (e) {
        cb(e as Error);
        return;
      }
      const out = sink.take();
      cb(null, out.length > 0 ? out : undefined);
    },
    function flush(cb: (err?: Error | null, data?: string) => void) {
      try {
        feed(decoder.end());
        if (rest.length > 0) handler.cut(rest, ++lineno);
        rest = '';
        handler.end();
      } catch (e) {
        cb(e as Error);
        return;
      }
      const out = sink.take();
      cb(null, out.length > 0 ? out : undefined);
    },
  );
}

/**
 * Runs a line-based stage over every input in turn, writing to `out`. Ctrl-C
 * stops reading a file at once (and a pipe at its end), then flushes.
 */
export async function runInputs(
  files: string[],
  out: Output,
  interrupt: Interrupt,
  stageFor: (input: Input) => Transform,
): Promise<void> {
  const names = files.length === 0 ? ['-'] : files;
  // Open every file first, so a typo in the last name fails before any output.
  const inputs: Input[] = [];
  for (const name of names) inputs.push(await openInput(name));
  for (const input of inputs) {
    if (interrupt.requested) {
      input.stream.destroy();
      continue;
    }
    await runStream(input, out, interrupt, stageFor(input));
  }
}

/** Pumps one input through a stage transform into `out`. */
export async function runStream(input: Input, out: Output, interrupt: Interrupt, t: Transform): Promise<void> {
  const stop = (): void => {
    if (input.isPipe) return;
    input.stream.unpipe(t);
    input.stream.destroy();
    t.end();
  };
  const off = interrupt.onRequest(stop);
  let readError: Error | undefined;
  input.stream.on('error', (e: Error) => {
    readError = e;
    input.stream.unpipe(t);
    t.end();
  });
  input.stream.pipe(t);
  for await (const s of t) await out.write(typeof s === 'string' ? s : String(s));
  off();
  if (readError) throw new ReadError(input.name, readError);
}

export class ReadError extends DataError {
  constructor(
    readonly file: string,
    override readonly cause: Error,
  ) {
    super(`${file}: ${describeReadError(cause)}`);
  }
}

function describeReadError(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') return `not valid gzip data (${e.message})`;
  if (code === 'EISDIR') return 'is a directory';
  return e.message;
}

/** What a record-consuming stage implements. */
export interface RecordHandler {
  record(rec: Rec, file: string, lineno: number): void;
  /** End of one input file. */
  endFile?(file: string): void;
}

export type Rec = { type: string; [k: string]: unknown };

/**
 * Line handler for NDJSON input: parses each line, checks it is a record
 * (an object with a string `type`), counts what is not, and passes records on.
 */
export function ndjsonLines(file: string, handler: RecordHandler, malformed: Malformed): LineHandler {
  return {
    line(text, lineno) {
      if (text.length === 0) return;
      let rec: unknown;
      try {
        rec = JSON.parse(text);
      } catch {
        malformed.add(file, lineno, `not JSON: ${preview(text)}`);
        return;
      }
      if (rec === null || typeof rec !== 'object' || Array.isArray(rec) || typeof (rec as Rec).type !== 'string') {
        malformed.add(file, lineno, `not a record (an object with a "type"): ${preview(text)}`);
        return;
      }
      handler.record(rec as Rec, file, lineno);
    },
    cut(text, lineno) {
      // A last line without newline is fine for JSON if it parses whole.
      this.line(text, lineno);
    },
    end() {
      handler.endFile?.(file);
    },
  };
}

export function preview(text: string): string {
  const t = text.length > 60 ? text.slice(0, 57) + '...' : text;
  return JSON.stringify(t);
}
