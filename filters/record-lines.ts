// NDJSON lines to records, parsing each kind of line once. A sample, perf
// record or span line differs from others of its kind only in its times:
// perf-parse's `{"type":"sample","ts":T,"comm":"python","pid":2664,...}` has
// 1,839 different texts after T in the bench's 536,449 lines, gil-state's
// spans 54 around their ts and dur. Such a line is read as a copy of the
// record of the first line with the same text around its times, with the
// times put in: JSON.parse and the check against the contract ran for that
// first line, and hold for the others, since a JSON value does not depend on
// the numbers beside it. gil-state reads perf-parse's records with 13 % less
// CPU (the bench's capture, interleaved medians of 5).
import type { Context, Emit } from '../lib/filter.js';
import { own } from '../lib/lines.js';
import { NdjsonDecoder } from '../lib/ndjson.js';
import { PairMemo } from '../lib/pair-memo.js';
import { MAX_TIME } from '../lib/max-time.js';
import { type AnyRecord, narrow } from './records.js';

/** The types read this way, each with the text its lines begin with. */
const KINDS = [
  { type: 'sample', prefix: '{"type":"sample","ts":' },
  { type: 'perf_record', prefix: '{"type":"perf_record","ts":' },
  // A span's ts comes after its thread and state, its dur right after the ts.
  { type: 'span', prefix: '{"type":"span",' },
] as const;
const SAMPLE = 0;
const PERF_RECORD = 1;
const SPAN = 2;
const DUR = ',"dur":';
/** Longer lines (callchains, long payloads) seldom repeat: their text is not kept. */
const LONGEST = 400;
/** Lines not found before the copying may turn itself off (when fewer were found). */
const TRIAL = 4096;

type Timed = AnyRecord & { ts: number; dur?: number };

// Where cutTimes found the times, for the one line being read (a tuple per line cost more).
let kind = 0;
let tsAt = 0;
let restAt = 0;
let ts = 0;
let dur = -1;

/**
 * The number of a JSON integer token at `at`: digits, no leading zero, at
 * most MAX_TIME, followed by `,` or `}`, so that it is the whole token. -1
 * when there is none; `numberEnd` is set past it.
 */
let numberEnd = 0;
function uintAt(line: string, at: number): number {
  let i = at;
  let v = 0;
  for (let c = line.charCodeAt(i); c >= 48 && c <= 57; c = line.charCodeAt(++i)) v = v * 10 + (c - 48);
  const n = i - at;
  if (n === 0 || n > 19 || (n > 1 && line.charCodeAt(at) === 48)) return -1;
  const after = line.charCodeAt(i);
  if (after !== 44 /* , */ && after !== 125 /* } */) return -1;
  // Past 15 digits the sum above may round otherwise than JSON.parse does.
  if (n > 15) {
    v = Number(line.slice(at, i));
    if (v > MAX_TIME) return -1;
  }
  numberEnd = i;
  return v;
}

/** Whether `line` has `text` at `at`. (startsWith cost 150 ns a call on a line sliced from its chunk.) */
function hasAt(line: string, text: string, at: number): boolean {
  if (line.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (line.charCodeAt(at + i) !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * Finds where the times of a line that may be one of KINDS are: its ts, and
 * a span's dur. False for any other line. The text before the ts is not
 * checked here: it is a key, equal to one checked when it was kept.
 */
function cutTimes(line: string): boolean {
  // `{"type":"` and then the type's first two letters.
  const c9 = line.charCodeAt(9);
  const c10 = line.charCodeAt(10);
  if (c9 === 115 /* s */ && c10 === 97 /* a */) kind = SAMPLE;
  else if (c9 === 112 /* p */ && c10 === 101 /* e */) kind = PERF_RECORD;
  else if (c9 === 115 && c10 === 112 /* p */) kind = SPAN;
  else return false;
  if (kind === SPAN) {
    const k = line.lastIndexOf('"ts":');
    if (k < KINDS[SPAN].prefix.length) return false;
    tsAt = k + 5;
  } else tsAt = KINDS[kind].prefix.length;
  ts = uintAt(line, tsAt);
  if (ts < 0) return false;
  restAt = numberEnd;
  dur = -1;
  if (kind !== SPAN) return true;
  // The text between the two numbers is in no key: it is checked on every line.
  if (!hasAt(line, DUR, restAt)) return false;
  dur = uintAt(line, restAt + DUR.length);
  if (dur < 0) return false;
  restAt = numberEnd;
  return true;
}

/** Records of NDJSON lines: the contract's records, or Foreign ones; a line that is neither is malformed. */
export class RecordLines extends NdjsonDecoder<AnyRecord> {
  /** For each of KINDS, a record by the text before its ts and the text after its times. */
  private readonly kept = KINDS.map(() => new PairMemo<string, string, Timed>());
  private hits = 0;
  private misses = 0;
  /** Set when the texts do not repeat (every line different): then each line is parsed, without a lookup first. */
  private off = false;

  constructor(emit: Emit<AnyRecord>, ctx: Context) {
    super(emit, ctx, narrow);
  }

  override write(line: string): void {
    if (line.length === 0) return;
    if (this.off || line.length > LONGEST || !cutTimes(line)) {
      const rec = this.decode(line);
      if (rec !== undefined) this.emit(rec);
      return;
    }
    const before = line.slice(0, tsAt);
    const rest = line.slice(restAt);
    const kept = this.kept[kind]!;
    const known = kept.get(before, rest);
    if (known !== undefined) {
      this.hits++;
      const rec = { ...known };
      rec.ts = ts;
      if (dur >= 0) rec.dur = dur;
      this.emit(rec);
      return;
    }
    const at = { kind, dur, tsAt, restAt };
    const rec = this.decode(line);
    if (rec === undefined) return;
    if (++this.misses >= TRIAL && this.hits < this.misses) this.off = true;
    if (keeps(line, rec, at)) kept.set(own(before), own(rest), template(rec));
    this.emit(rec);
  }
}

/**
 * Whether every line with the text of `line` around its times is read as
 * `rec` with those times: `line` is of its kind, and parsed again with other
 * numbers there, its record has those. A second "ts" key after the first,
 * or an escaped one, would not.
 */
function keeps(line: string, rec: AnyRecord, at: { kind: number; dur: number; tsAt: number; restAt: number }): boolean {
  const k = KINDS[at.kind]!;
  if (rec.type !== k.type || !hasAt(line, k.prefix, 0)) return false;
  const probe = at.dur >= 0 ? `${line.slice(0, at.tsAt)}1${DUR}2${line.slice(at.restAt)}` : `${line.slice(0, at.tsAt)}1${line.slice(at.restAt)}`;
  let o: { ts?: unknown; dur?: unknown };
  try {
    o = JSON.parse(probe) as typeof o;
  } catch {
    return false;
  }
  return o.ts === 1 && (at.dur < 0 || o.dur === 2);
}

/** The record every later line of the same text is copied from: its objects and arrays are shared, so frozen. */
function template(rec: AnyRecord): Timed {
  for (const v of Object.values(rec)) deepFreeze(v);
  return { ...rec } as Timed;
}

function deepFreeze(v: unknown): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return;
  Object.freeze(v);
  for (const x of Object.values(v)) deepFreeze(x);
}
