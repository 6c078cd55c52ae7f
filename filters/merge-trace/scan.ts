// Pass 1 of merge-trace: one read of each input with the validating scanner,
// keeping only what the merge needs: the first file's top-level members, each
// file's viztracer_metadata and file_info, the byte range of its events, their
// count and their time range. Only then is it known which inputs are usable
// and what the merged metadata is, and the output can start.
//
// TraceScan takes bytes and gives a summary; where the bytes come from (a
// file, a gunzipped stream, a worker thread) is the caller's business.
import { JsonScanner, JsonSyntaxError, eachMember, keyIs, keyText, numberValue, objectEntries, type ScanHooks } from '../../lib/json-stream.js';
import type { ByteConsumer } from '../../lib/file-bytes.js';

export type Form = 'object' | 'array' | 'ndjson';

const RECORDS_NOT_TRACE =
  'records of gilpipe\'s stages (a "type", no "ph"), not trace events: to-trace makes a trace of them (perf-parse | gil-state | to-trace)';

/** One member of a JSON object, as source text. */
export interface Entry {
  key: string;
  rawKey: string;
  raw: string;
}

export interface TraceSummary {
  name: string;
  /** False when the input cannot be used at all; `problem` says why. */
  usable: boolean;
  problem?: string;
  /** Things worth telling the user about a usable input. */
  warnings: string[];
  form: Form;
  /**
   * Object form: top-level members in order (traceEvents with raw undefined);
   * kept for the first input only. Uint8Array, not Buffer: that is what
   * arrives from a worker thread.
   */
  top: Array<{ key: string; rawKey: string; raw: Uint8Array | undefined }>;
  hasTraceEvents: boolean;
  /** viztracer_metadata's members, when it is an object. */
  meta?: Entry[];
  /** file_info's members, when it is an object. */
  fileInfo?: Entry[];
  events: number;
  /** Byte range from the first event's first byte to the last event's last byte. */
  eventsStart: number;
  eventsEnd: number;
  /** Smallest numeric ts, and largest ts+dur (µs); ±Infinity when no event has a ts. */
  minTs: number;
  maxEnd: number;
  /** Whether the smallest ts was written as a float (Python keeps int - int an int). */
  minTsFloat: boolean;
  /** Names of X events in order of first appearance (with embedSources only). */
  xNames?: Set<string>;
  /**
   * Where pass 2 may cut the events to rewrite them on several threads:
   * pairs of the offset of the first event that begins in a MARK-sized
   * block of the file, and the number of events before it.
   */
  marks: number[];
  /** An array form's end, inside an event (a trace cut short): what was before it is kept (warned of by cutShortWarning, after `warnings`). */
  cutShortAt?: number;
  /** A part (ScanPart.stopAt) that stopped there, between two events: a summary of the bytes before it. */
  stoppedAt?: number;
}

/**
 * A part of a file scanned on a thread of its own (merge-trace/split.ts cuts
 * the biggest input). Each but the first starts at `from`, the first byte of
 * an event after a comma, as if in traceEvents (with `array`, in the
 * top-level array of a trace of that form). Each but the last stops at
 * `stopAt` if it is there between two events, as the next part assumed;
 * otherwise it goes on to the end, and the work of the parts after it is
 * dropped.
 */
export interface ScanPart {
  stopAt?: number;
  from?: number;
  /** The file begins with `[`: its events are the elements of its top-level array. */
  array?: boolean;
}

export interface ScanOptions {
  /** Keep every top-level member (the first input's are the output's). */
  keepTop: boolean;
  /** Collect X event names, for --embed-sources. */
  embedSources: boolean;
  /**
   * Read every event's ts (--align and --no-negative need the true minimum).
   * Otherwise the time range, used only to warn about clock mismatches, comes
   * from the events in the first SAMPLE_ALL bytes and those that span a
   * multiple of SAMPLE_EVERY bytes (one in 19 of the bench's): reading the
   * fields of every event costs more than the scan itself (1.4 against 0.5 s
   * for 240 MB of the bench's events). Chosen by where an event lies, not by
   * its number, so that a part of a file scanned on its own picks the same.
   * The end of the range (a ts plus its dur) comes from those events either
   * way, and from every ts here.
   */
  exactTimes: boolean;
  part?: ScanPart;
  /** The spacing of the summary's marks (MARK; smaller in tests). */
  markEvery?: number;
}

const TOP_KEYS_WANTED = new Set(['viztracer_metadata', 'file_info']);
const SAMPLE_ALL = 128 << 10;
/** The spacing of TraceSummary.marks. */
const MARK = 1 << 20;
const SAMPLE_EVERY = 2048;

class NotATrace extends Error {}

/**
 * Pass 1 over one input, fed chunk by chunk. Never throws for bad data: an
 * input that cannot be used comes back with `usable: false` and a message.
 * Chunks may be reused by the caller after `feed` returns: what is kept is
 * copied.
 */
export class TraceScan implements ScanHooks, ByteConsumer<TraceSummary> {
  readonly summary: TraceSummary;
  private readonly sc: JsonScanner;
  private chunk: Buffer = Buffer.alloc(0);
  private base = 0;
  private firstKind = 0;
  private ndjson = false;
  /** The first object has a `type` member: a record of gilpipe's stages, unless it also has a `ph`. */
  private firstHasType = false;
  private topKey = '';
  private topRawKey = '';
  private inTE = false;
  private teSeen = 0;
  // Capture of a top-level member's value.
  private capturing = false;
  private capFrom = 0;
  private capParts: Buffer[] = [];
  // The event being read.
  private inEvent = false;
  private evStart = 0;
  /** Whether its fields are read (see ScanOptions.exactTimes), and its bytes before this chunk. */
  private evRead = false;
  private evParts: Buffer[] = [];
  private field = 0;
  private ts = NaN;
  private tsFloat = false;
  private dur = NaN;
  private ph: string | undefined;
  private evName: string | undefined;
  // The first top-level object, until we know whether it is a trace object or an NDJSON event.
  private firstObj: { start: number; end: number; ts: number; tsFloat: boolean; dur: number; ph?: string; name?: string } | undefined;
  private firstHasPh = false;
  /** With part.stopAt: stopped there (then nothing more is fed). */
  private stopped = false;
  /** The first offset of the next block without a mark. */
  private nextMark = 0;
  private readonly markEvery: number;

  constructor(
    name: string,
    private readonly opts: ScanOptions,
  ) {
    this.summary = {
      name,
      usable: true,
      warnings: [],
      form: 'object',
      top: [],
      hasTraceEvents: false,
      events: 0,
      eventsStart: 0,
      eventsEnd: 0,
      minTs: Infinity,
      maxEnd: -Infinity,
      minTsFloat: false,
      xNames: opts.embedSources ? new Set() : undefined,
      marks: [],
    };
    this.sc = new JsonScanner(this, 3);
    this.markEvery = opts.markEvery ?? MARK;
    const from = opts.part?.from;
    if (from !== undefined && from > 0) {
      // Between two events, after a comma (the part before checks that it is):
      // in the top-level array, or in the traceEvents of an object.
      const array = opts.part?.array === true;
      this.sc.resumeAfterComma(from, !array);
      this.sc.interest = 2;
      this.base = from;
      // A block's first event may be this part's first: joinParts drops the mark when the part before has it.
      this.nextMark = Math.floor(from / this.markEvery) * this.markEvery;
      if (array) {
        this.firstKind = 0x5b;
        this.summary.form = 'array';
        this.sc.trailingComma = true;
      } else {
        this.firstKind = 0x7b;
        this.inTE = true;
        this.teSeen = 1;
        this.topKey = 'traceEvents';
        this.summary.hasTraceEvents = true;
      }
    }
  }

  /** Where a second part's bytes begin in its file. */
  get startsAt(): number {
    return this.opts.part?.from ?? 0;
  }

  /** False once a first part has stopped: nothing more need be read. */
  wantsMore(): boolean {
    return !this.stopped;
  }

  // Depth of event objects for the form at hand; -1 while unknown.
  private get evDepth(): number {
    if (this.firstKind === 0x5b) return 1;
    if (this.ndjson) return 0;
    return this.inTE ? 2 : -1;
  }

  start(depth: number, pos: number, c: number): void {
    if (depth === 0) {
      if (this.sc.topValues === 1) {
        if (c !== 0x7b && c !== 0x5b) throw new NotATrace(`the top level is ${c === 0x22 ? 'a string' : 'a number or literal'}, not a trace (an object or an array)`);
        this.firstKind = c;
        if (c === 0x5b) {
          this.summary.form = 'array';
          this.sc.interest = 2;
          this.sc.trailingComma = true;
        } else {
          this.resetEvent(pos, c);
        }
        return;
      }
      // A second top-level value: the input is NDJSON, one event per line.
      if (this.firstKind !== 0x7b || this.summary.hasTraceEvents || this.ndjson === false && this.firstObj === undefined) {
        throw new JsonSyntaxError('more data after the end of the JSON value', pos, this.sc.line);
      }
      if (!this.ndjson) this.becomeNdjson();
      if (c !== 0x7b) throw new JsonSyntaxError('a line of NDJSON trace that is not an object', pos, this.sc.line);
      this.resetEvent(pos, c);
      return;
    }
    if (depth === 1 && this.firstKind === 0x7b && !this.ndjson && this.sc.topValues === 1) {
      // A member of the top-level object (or a field of a first NDJSON event).
      if (this.topKey === 'traceEvents') {
        this.summary.hasTraceEvents = true;
        if (++this.teSeen > 1) throw new NotATrace('it has two "traceEvents" members');
        if (c !== 0x5b) throw new NotATrace('its "traceEvents" is not an array');
        this.inTE = true;
        this.summary.top.push({ key: 'traceEvents', rawKey: this.topRawKey, raw: undefined });
        return;
      }
      if (this.opts.keepTop || TOP_KEYS_WANTED.has(this.topKey)) {
        this.capturing = true;
        this.capFrom = pos;
        this.capParts.length = 0;
      }
      return;
    }
    if (depth === this.evDepth) this.resetEvent(pos, c);
  }

  key(depth: number, b: Buffer, s: number, e: number): boolean {
    if (depth === 1 && this.firstKind === 0x7b && !this.ndjson && this.sc.topValues === 1) {
      this.topKey = keyText(b, s, e);
      this.topRawKey = b.toString('utf8', s, e);
      if (this.topKey === 'ph') this.firstHasPh = true;
      if (this.topKey === 'type') this.firstHasType = true;
      // The first object might be an NDJSON event: watch its fields too.
      return this.wantField(b, s, e);
    }
    return false;
  }

  private wantField(b: Buffer, s: number, e: number): boolean {
    this.field = 0;
    if (keyIs(b, s, e, 'ts')) this.field = 1;
    else if (keyIs(b, s, e, 'dur')) this.field = 2;
    else if (this.opts.embedSources) {
      if (keyIs(b, s, e, 'ph')) this.field = 3;
      else if (keyIs(b, s, e, 'name')) this.field = 4;
    }
    return this.field !== 0;
  }

  end(depth: number, pos: number, tok: Buffer | undefined, ts: number, te: number): void {
    if (depth === 0) {
      if (this.firstKind === 0x7b && !this.ndjson) {
        this.firstObj = { start: this.evStart, end: pos, ts: this.ts, tsFloat: this.tsFloat, dur: this.dur, ph: this.ph, name: this.evName };
      } else if (this.ndjson) {
        this.eventDone(pos);
      }
      return;
    }
    const first = depth === 1 && this.firstKind === 0x7b && !this.ndjson && this.sc.topValues === 1;
    if (first) {
      if (this.inTE) {
        this.inTE = false;
      } else if (this.capturing) {
        this.capParts.push(this.chunk.subarray(Math.max(this.capFrom, this.base) - this.base, pos - this.base));
        const raw = this.capParts.length === 1 ? Buffer.from(this.capParts[0]!) : Buffer.concat(this.capParts);
        this.capParts.length = 0;
        this.capturing = false;
        this.member(raw);
      }
      if (tok !== undefined) this.fieldValue(tok, ts, te);
      return;
    }
    if (depth === this.evDepth && this.inEvent) this.eventDone(pos);
  }

  private member(raw: Buffer): void {
    const s = this.summary;
    if (this.opts.keepTop) s.top.push({ key: this.topKey, rawKey: this.topRawKey, raw });
    if (this.topKey === 'viztracer_metadata') {
      s.meta = raw[0] === 0x7b ? objectEntries(raw) : undefined;
      if (s.meta === undefined) s.warnings.push('its viztracer_metadata is not an object: ignored');
    } else if (this.topKey === 'file_info') {
      s.fileInfo = raw[0] === 0x7b ? objectEntries(raw) : undefined;
      if (s.fileInfo === undefined) s.warnings.push('its file_info is not an object: ignored');
    }
  }

  /** An event starts at `pos` with byte `c`. */
  private resetEvent(pos: number, c: number): void {
    if (this.firstKind === 0x5b || this.ndjson || this.inTE) {
      // An event is scanned without callbacks inside it (the scanner's tight
      // pass); the fields wanted are read from its bytes once it is whole.
      // Only an object has fields: an array or a string in the events has none.
      this.sc.interest = this.evDepth;
      this.evRead = c === 0x7b;
      if (this.evParts.length !== 0) this.evParts = [];
    }
    this.inEvent = true;
    this.evStart = pos;
    this.ts = NaN;
    this.dur = NaN;
    this.ph = undefined;
    this.evName = undefined;
  }

  private fieldValue(b: Buffer, s: number, e: number): void {
    const c = b[s]!;
    const num = c === 0x2d || (c >= 0x30 && c <= 0x39);
    switch (this.field) {
      case 1:
        if (num) {
          const r = numberValue(b, s, e);
          this.ts = r.v;
          this.tsFloat = r.float;
        }
        break;
      case 2:
        if (num) this.dur = numberValue(b, s, e).v;
        break;
      case 3:
        if (c === 0x22) this.ph = JSON.parse(b.toString('utf8', s, e));
        break;
      case 4:
        if (c === 0x22) this.evName = JSON.parse(b.toString('utf8', s, e));
        break;
    }
    this.field = 0;
  }

  /** The fields of the event that ends at `pos` in this chunk, from its bytes; with `tsOnly`, its ts. */
  private readFields(pos: number, tsOnly: boolean): void {
    this.tsOnly = tsOnly;
    let b = this.chunk;
    let from = this.evStart - this.base;
    let to = pos - this.base;
    if (from < 0) {
      // It began in an earlier chunk: those bytes were kept.
      this.evParts.push(b.subarray(0, to));
      b = Buffer.concat(this.evParts);
      this.evParts.length = 0;
      from = 0;
      to = b.length;
    }
    eachMember(b, from, to, this.visitField);
  }

  private tsOnly = false;

  private readonly visitField = (b: Buffer, ks: number, ke: number, vs: number, ve: number): void => {
    if (this.tsOnly) {
      // Every member is passed, not only the first ts: of two, the last counts, as Python reads them.
      if (!keyIs(b, ks, ke, 'ts')) return;
      this.field = 1;
      this.fieldValue(b, vs, ve);
    } else if (this.wantField(b, ks, ke)) this.fieldValue(b, vs, ve);
  };

  private eventDone(pos: number): void {
    const s = this.summary;
    if (this.evRead) {
      this.evRead = false;
      const o = this.opts;
      const start = this.evStart;
      // The sampled events give the time range (see ScanOptions.exactTimes);
      // the others, with exactTimes, only their ts: the least is exact, the
      // range's end an estimate as without it (a dur of 17 digits cost more to
      // read than the rest of the event).
      if (o.embedSources || start < SAMPLE_ALL || Math.floor(start / SAMPLE_EVERY) !== Math.floor(pos / SAMPLE_EVERY)) this.readFields(pos, false);
      else if (o.exactTimes) this.readFields(pos, true);
    }
    this.inEvent = false;
    if (this.evStart >= this.nextMark) {
      s.marks.push(this.evStart, s.events);
      this.nextMark = (Math.floor(this.evStart / this.markEvery) + 1) * this.markEvery;
    }
    if (s.events++ === 0) s.eventsStart = this.evStart;
    s.eventsEnd = pos;
    const ts = this.ts;
    if (Number.isFinite(ts)) {
      if (ts < s.minTs) {
        s.minTs = ts;
        s.minTsFloat = this.tsFloat;
      }
      const end = Number.isFinite(this.dur) ? ts + this.dur : ts;
      if (end > s.maxEnd) s.maxEnd = end;
    }
    if (s.xNames !== undefined && this.ph === 'X' && this.evName !== undefined) s.xNames.add(this.evName);
  }

  private becomeNdjson(): void {
    this.notRecords();
    const f = this.firstObj!;
    this.ndjson = true;
    this.summary.form = 'ndjson';
    this.summary.top = [];
    this.summary.meta = undefined;
    this.summary.fileInfo = undefined;
    this.sc.interest = 1;
    this.evStart = f.start;
    this.ts = f.ts;
    this.tsFloat = f.tsFloat;
    this.dur = f.dur;
    this.ph = f.ph;
    this.evName = f.name;
    this.eventDone(f.end);
  }

  /** gilpipe's records (a `type`, no `ph`) look like NDJSON events, and are not. */
  private notRecords(): void {
    if (this.firstHasType && !this.firstHasPh) throw new NotATrace(RECORDS_NOT_TRACE);
  }

  feed(chunk: Buffer): void {
    const stopAt = this.opts.part?.stopAt;
    if (stopAt === undefined || this.stopped || this.base + chunk.length < stopAt || this.base > stopAt) return this.feedBytes(chunk);
    // The chunk that reaches stopAt: up to it, and the rest only if the second part's start was wrong.
    const cut = stopAt - this.base;
    if (cut > 0) this.feedBytes(chunk.subarray(0, cut));
    if (this.betweenEvents()) {
      this.stopped = true;
      this.summary.stoppedAt = stopAt;
      return;
    }
    if (cut < chunk.length) this.feedBytes(chunk.subarray(cut));
  }

  /** Exactly where the next part assumes it starts: after a comma between two events, of the top-level array or of traceEvents in the top-level object. */
  private betweenEvents(): boolean {
    if (this.inEvent || this.capturing || this.ndjson || this.sc.topValues !== 1) return false;
    if (this.opts.part?.array === true) return this.firstKind === 0x5b && this.sc.betweenElements(false);
    return this.firstKind === 0x7b && this.inTE && this.sc.betweenElements(true);
  }

  private feedBytes(chunk: Buffer): void {
    this.chunk = chunk;
    this.sc.feed(chunk);
    if (this.capturing) this.capParts.push(Buffer.from(chunk.subarray(Math.max(this.capFrom, this.base) - this.base)));
    if (this.inEvent && this.evRead) this.evParts.push(Buffer.from(chunk.subarray(Math.max(this.evStart, this.base) - this.base)));
    this.base += chunk.length;
  }

  /** End of input: decides what of it is usable. */
  finish(): TraceSummary {
    const s = this.summary;
    if (this.stopped) return s;
    const complete = this.sc.finish();
    if (this.sc.topValues === 0) return this.unusable('empty (no JSON in it)');
    if (this.firstKind === 0x7b && !this.ndjson) {
      if (!complete) return this.unusable('ends before its JSON object does (truncated?)');
      if (!s.hasTraceEvents && this.firstHasPh) {
        // One object that is an event, not a trace: a one-line NDJSON file.
        this.becomeNdjson();
      }
      if (!s.hasTraceEvents && !this.firstHasPh && this.firstHasType) return this.unusable(RECORDS_NOT_TRACE);
      return s;
    }
    if (!complete) {
      if (s.form === 'array' && this.sc.atBoundary && this.sc.openDepth === 1) return s; // the optional `]`
      s.cutShortAt = this.sc.position;
    }
    return s;
  }

  /** Records why the input cannot be used (also: it could not be read). */
  unusable(why: string, line?: number): TraceSummary {
    this.summary.usable = false;
    this.summary.problem = line === undefined ? `${this.summary.name}: ${why}` : `${this.summary.name}:${line}: ${why}`;
    return this.summary;
  }

  /** The summary after feed or finish threw `e`: bad JSON, or not a trace. */
  fail(e: unknown): TraceSummary {
    if (e instanceof JsonSyntaxError) {
      if (this.sc.topValues <= 1 && e.pos === 0 && this.chunk.length > 0) {
        const c = this.chunk[0] ?? 0;
        if (c === 0xef) return this.unusable('starts with a UTF-8 byte-order mark, which JSON does not allow', 1);
        if (c < 0x20 || c >= 0x7f) return this.unusable(`not JSON text (it starts with byte 0x${c.toString(16).padStart(2, '0')}; a binary file?)`, 1);
      }
      // An array or NDJSON trace cut short and then continued with junk is still broken: skip it whole.
      return this.unusable(`not valid JSON at byte ${e.pos}: ${e.message}`, e.line);
    }
    if (e instanceof NotATrace) return this.unusable(e.message);
    throw e;
  }
}

/**
 * The summary of two parts (ScanPart) in one: the first stopped where the
 * second started, and the joined one stops where the second did. Both
 * usable: when the second is not, the file is scanned again whole, for the
 * message of a scan from the start (its line number, the first of several
 * problems).
 */
export function joinParts(a: TraceSummary, b: TraceSummary, markEvery = MARK): TraceSummary {
  const joined: TraceSummary = {
    ...a,
    warnings: [...a.warnings, ...b.warnings],
    top: [...a.top, ...b.top],
    events: a.events + b.events,
    eventsStart: a.events > 0 ? a.eventsStart : b.eventsStart,
    eventsEnd: b.events > 0 ? b.eventsEnd : a.eventsEnd,
    // A tie keeps the first, as one scan does.
    minTs: Math.min(a.minTs, b.minTs),
    minTsFloat: b.minTs < a.minTs ? b.minTsFloat : a.minTsFloat,
    maxEnd: Math.max(a.maxEnd, b.maxEnd),
  };
  // A member after traceEvents replaces one before it, as in one scan; its key is there even when it was not an object.
  if ('meta' in b) joined.meta = b.meta;
  if ('fileInfo' in b) joined.fileInfo = b.fileInfo;
  if (a.xNames !== undefined && b.xNames !== undefined) joined.xNames = new Set([...a.xNames, ...b.xNames]);
  // b's first event is a's block's first too when a marked that block.
  const am = a.marks;
  const bm = b.marks;
  const dup = am.length > 0 && bm.length > 0 && Math.floor(am[am.length - 2]! / markEvery) === Math.floor(bm[0]! / markEvery) ? 2 : 0;
  joined.marks = [...am];
  for (let k = dup; k < bm.length; k += 2) joined.marks.push(bm[k]!, bm[k + 1]! + a.events);
  if (b.stoppedAt === undefined) delete joined.stoppedAt;
  else joined.stoppedAt = b.stoppedAt;
  if (b.cutShortAt !== undefined) joined.cutShortAt = b.cutShortAt;
  return joined;
}

/** The warning of an input cut short (TraceSummary.cutShortAt): made from the whole file's count, which a part does not know. */
export function cutShortWarning(s: TraceSummary): string | undefined {
  if (s.cutShortAt === undefined) return undefined;
  return `ends inside an event at byte ${s.cutShortAt} (cut short?): kept the ${s.events} complete event${s.events === 1 ? '' : 's'} before it`;
}

/** The factory a worker thread calls by name (lib/scan-workers.ts). */
export function traceScan(name: string, opts: ScanOptions): TraceScan {
  return new TraceScan(name, opts);
}
