// Bytes to lines: the first filter of every text-reading chain.
import { StringDecoder } from 'node:string_decoder';
import type { Context, Emit, Filter } from './filter.js';

/**
 * A copy of a part of a line that holds no view of anything else: a slice is
 * a view of the whole chunk its line came in, which a kept slice keeps alive
 * (4,096 kept slices, as many chunks; 1,839 of them took RecordLines' peak
 * RSS from 80 to 104 MB). JSON's round trip makes a new flat string, of any
 * text, lone surrogates too. For what a memo keeps, not for every line.
 */
export function own<T extends string | undefined>(s: T): T {
  return (s === undefined ? s : JSON.parse(JSON.stringify(s))) as T;
}

export interface LineOptions {
  /**
   * `latin1` keeps one character per byte (perf text: comm widths are
   * counted in bytes, and UTF-8 is fixed up where strings are written);
   * `utf8` is for JSON.
   */
  encoding: 'latin1' | 'utf8';
  /**
   * Text after the last newline of an input: `line`, a line like any other
   * (NDJSON: fine if it parses); `malformed`, a line cut short (perf ends
   * every line with a newline, so a killed pipe or `head -c` cut it).
   */
  lastLine: 'line' | 'malformed';
}

/** The longest line read; past it a line is malformed, and skipped without being held. */
export const MAX_LINE = 16 * 1024 * 1024;

/** perf script's text. */
export const PERF_TEXT: LineOptions = { encoding: 'latin1', lastLine: 'malformed' };
/** NDJSON. */
export const JSON_LINES: LineOptions = { encoding: 'utf8', lastLine: 'line' };

/**
 * Splits byte chunks into lines (no `\n`, a trailing `\r` removed) and emits
 * them, keeping `ctx.where.line` at the line being emitted. Line numbers start
 * again at 1 with each input.
 */
export class LineSplitter implements Filter<Buffer> {
  private decoder: StringDecoder;
  private rest = '';
  private lineno = 0;
  /** Inside a line longer than MAX_LINE: its bytes are dropped until its newline. */
  private skipping = false;

  constructor(
    private readonly emit: Emit<string>,
    private readonly ctx: Context,
    private readonly opts: LineOptions,
  ) {
    this.decoder = new StringDecoder(opts.encoding);
  }

  write(chunk: Buffer): void {
    this.feed(this.decoder.write(chunk));
  }

  /** A line past the limit: reported once, its bytes dropped up to its newline. */
  private tooLong(): void {
    this.ctx.where.line = ++this.lineno;
    this.ctx.malformed(`a line longer than the limit of ${MAX_LINE} characters: skipped`);
    this.rest = '';
    this.skipping = true;
  }

  endInput(): void {
    this.feed(this.decoder.end());
    this.skipping = false;
    const rest = this.rest;
    this.rest = '';
    if (rest.length > 0) {
      this.ctx.where.line = ++this.lineno;
      if (this.opts.lastLine === 'line') this.emit(rest);
      else this.ctx.malformed(`line cut short at end of input: ${JSON.stringify(Buffer.from(rest.slice(0, 60), 'latin1').toString('utf8'))}`);
    }
    this.lineno = 0;
    this.decoder = new StringDecoder(this.opts.encoding);
  }

  end(): void {
    if (this.rest.length > 0) this.endInput();
  }

  private feed(text: string): void {
    let nl = text.indexOf('\n');
    if (nl === -1) {
      if (this.skipping) return;
      this.rest += text;
      if (this.rest.length > MAX_LINE) this.tooLong();
      return;
    }
    let start = 0;
    let first = true;
    const where = this.ctx.where;
    if (this.skipping) {
      // The end of a line too long to keep: it was reported when it began.
      this.skipping = false;
      this.rest = '';
      start = nl + 1;
      nl = text.indexOf('\n', start);
      if (nl === -1) {
        this.rest = text.slice(start);
        return;
      }
    }
    while (nl !== -1) {
      let line = first ? this.rest + text.slice(start, nl) : text.slice(start, nl);
      first = false;
      if (line.length > MAX_LINE) {
        where.line = ++this.lineno;
        this.ctx.malformed(`a line of ${line.length} characters, longer than the limit of ${MAX_LINE}: skipped`);
        start = nl + 1;
        nl = text.indexOf('\n', start);
        continue;
      }
      if (line.length > 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
      where.line = ++this.lineno;
      if (line.length === 0) where.blank = (where.blank ?? 0) + 1;
      this.emit(line);
      start = nl + 1;
      nl = text.indexOf('\n', start);
    }
    this.rest = text.slice(start);
  }
}
