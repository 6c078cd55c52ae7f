// perf-parse's logic: `perf script` text in, one record per event out.
// Fed one line at a time; emits `header`, `sample`, `comm`, `fork`, `exit`,
// `lost`, `perf_record` and `perf_message` records (docs/events.md).
import type { Context, Emit, Filter } from '../lib/filter.js';
import { MAX_TIME } from '../lib/max-time.js';
import type { PerfParseRecord, PerfRecord, Sample } from './records.js';
import {
  type Frame,
  type Head,
  type Layout,
  isFrameLine,
  parseFrame,
  parseHead,
  utf8,
} from '../lib/perf-grammar.js';
import { type Payload, parsePayload } from '../lib/perf-payload.js';
import { ctime } from '../lib/perf-data/header.js';

export interface PerfParseStats {
  lines: number;
  samples: number;
  records: number;
  lost: number;
  /** Events whose time is earlier than the one before (a sign of --deltatime). */
  backwards: number;
  /** Events printed with microsecond times (perf script without --ns). */
  micros: number;
}

// perf's warnings (on stderr, in the text after 2>&1): `Warning:` on a line of
// its own, then the message, which some perf versions indent.
const PERF_MESSAGE_RE =
  /^(Warning:|WARNING:|\s*(Processed \d+ (events|samples)|Check IO\/CPU overload|\d+ out of order events|Found \d+ unknown events|Found invalid callchains|\d+ unprocessable samples|AUX data lost|incompatible file format|Was the 'perf record' command|zero-sized data|0x[0-9a-f]+ \[0x[0-9a-f]+\]: failed to process type))/;
const LOST_CHUNKS_RE = /^\s*Processed (\d+) events and lost (\d+) chunks!/;
const BARE_PAYLOAD_RE = /^(prev_comm=|comm=|\([0-9a-f]+( <- [0-9a-f]+)?\)$|[a-z_]+=)/;
/** A line whose last field is a thread name: where a newline in a name cuts it. */
const ENDS_IN_NAME_RE = /(?:^|[\s:])\w*comm=[^=]*$/;
/** perf's ctime() of time 0 here (perf script runs in this time zone): a stream's copy, which has no time. */
const TIME_ZERO = ctime(0);
const HEADER_LINE_RE = /^#($| =+$| [A-Za-z][^:]*: | [A-Z_]+ info available)/;

/**
 * Whether a line is only whitespace, as trim() sees it in latin1 text (tab to
 * carriage return, space, no-break space). Most event lines begin with the
 * comm column's padding, and trim() made a copy of each to find that out.
 */
function onlyWhitespace(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (!isBlank(text.charCodeAt(i))) return false;
  return true;
}

export class PerfParser implements Filter<string> {
  readonly stats: PerfParseStats = { lines: 0, samples: 0, records: 0, lost: 0, backwards: 0, micros: 0 };
  private layout: Layout = { taskWidth: 5 };
  private pending: Sample | undefined;
  /** The pending event's line had no padding: space-indented frames may follow. */
  private pendingUnpadded = false;
  private lastFrame: Frame | undefined;
  private header: { meta: Record<string, string>; events: Array<{ name: string; attrs: string }> } | undefined;
  private prevTs = -Infinity;
  /** Names from PERF_RECORD_COMM, exact: the padded comm column cannot show a name's own leading spaces. */
  private readonly names = new Map<number, string>();
  /** A sideband record (PERF_RECORD_COMM, ...) held like a sample, so a line perf cut after it can still join it. */
  private pendingRecord: PerfParseRecord | undefined;
  /** The event being read has a time no clock has: it and its frames are dropped (said once, at its line). */
  private rejected = false;
  /** The text of the pending event's line while no frame has followed it: what a cut-off rest would join. */
  private pendingText: string | undefined;
  /**
   * A line with no time column, held for one line: perf prints a thread name
   * with a newline raw, so the event's line is cut in two. Either this is the
   * name's first half and the next line the rest of the event (the comm
   * column was cut), or it is the rest of the event line before it (a name in
   * the payload was cut). The next line tells which.
   */
  private cut: string | undefined;

  constructor(
    private readonly emit: Emit<PerfParseRecord>,
    private readonly ctx: Context,
  ) {}

  write(text: string): void {
    this.stats.lines++;
    if (this.cut !== undefined && this.joinCut(text)) return;
    const c0 = text.charCodeAt(0);
    // A blank line ends a callchain block; one of only blanks is taken the same way.
    if (text.length === 0 || (c0 <= 32 && onlyWhitespace(text))) {
      this.flush();
      return;
    }
    if (c0 === 9 /* TAB */) {
      if (this.pending !== undefined && isFrameLine(text)) {
        this.addFrame(text);
        return;
      }
    } else if (c0 === 35 /* # */ && this.headerLine(text)) {
      return;
    } else if (text === 'PERF_RECORD_FINISHED_ROUND') {
      // An ordering marker with no time and no content: nothing to keep.
      return;
    }
    const head = parseHead(text, this.layout);
    if (head !== undefined) {
      this.flush();
      this.flushHeader();
      this.event(head, c0 !== 32, text);
      return;
    }
    if (this.pending !== undefined && this.pendingUnpadded) {
      if (isFrameLine(text)) {
        this.addFrame(text);
        return;
      }
      // srcline under a frame: two spaces, then `file.c:123`, `dso[addr]`, maybe `(inlined)`.
      if (this.lastFrame !== undefined && text.startsWith('  ') && text.charCodeAt(2) !== 32) {
        let src = text.slice(2);
        if (src.endsWith(' (inlined)')) {
          src = src.slice(0, -10);
          this.lastFrame.inlined = true;
          delete this.lastFrame.dso;
        }
        this.lastFrame.srcline = utf8(src);
        return;
      }
    }
    if (PERF_MESSAGE_RE.test(text)) {
      this.flush();
      const lost = LOST_CHUNKS_RE.exec(text);
      this.emit({ type: 'perf_message', text: utf8(text), ...(lost ? { lost_chunks: Number(lost[2]) } : {}) });
      return;
    }
    if (c0 !== 9 && (this.pendingText !== undefined || parseHead(`x\n${text}`, this.layout) === undefined)) {
      // Maybe half of a line cut by a newline in a name: decided at the next line.
      this.cut = text;
      return;
    }
    this.unusable(text);
  }

  /**
   * The line after a cut one. A name's first half is padded (perf prints
   * the comm column `%16s`, a name is at most 15 bytes) and comes before a
   * line that is an event of its own and starts in column 0 (the rest of the
   * name): the two are one event. Otherwise the
   * cut line is the rest of the event line before it. True when `next` was
   * used up.
   */
  private joinCut(next: string): boolean {
    const cut = this.cut!;
    this.cut = undefined;
    const c0 = next.charCodeAt(0);
    if (cut.charCodeAt(0) === 32 && next.length > 0 && c0 !== 32 && c0 !== 9 && c0 !== 35) {
      const head = parseHead(`${cut}\n${next}`, this.layout);
      if (head !== undefined && head.comm !== undefined && head.comm.includes('\n')) {
        this.flush();
        this.flushHeader();
        this.event(head, false, `${cut}\n${next}`);
        return true;
      }
    }
    if (!this.joinRest(cut)) this.onPreviousLine(() => this.unusable(cut));
    return false;
  }

  /**
   * The cut line as the rest of the pending event's line: only when that
   * line ends inside a name (`comm=new`, or an event that cannot be read
   * alone: a switch or PERF_RECORD_COMM cut in a name) and the whole can be
   * read, so a stray line is never swallowed.
   */
  private joinRest(cut: string): boolean {
    if (this.pendingText === undefined || (this.readable() && !ENDS_IN_NAME_RE.test(this.pendingText))) return false;
    const joined = `${this.pendingText}\n${cut}`;
    const head = parseHead(joined, this.layout);
    if (head === undefined) return false;
    const was = { pending: this.pending, record: this.pendingRecord, text: this.pendingText, unpadded: this.pendingUnpadded, prevTs: this.prevTs };
    this.pending = undefined;
    this.pendingRecord = undefined;
    this.prevTs = -Infinity;
    if (head.decimals === 6) this.stats.micros--; // the same event, counted once already
    this.event(head, was.unpadded, joined);
    if (this.readable()) {
      this.prevTs = head.ts;
      return true;
    }
    this.pending = was.pending;
    this.pendingRecord = was.record;
    this.pendingText = was.text;
    this.prevTs = was.prevTs;
    return false;
  }

  /** The pending event was read whole: fields or a probe, not a raw payload; a COMM with its pid/tid. */
  private readable(): boolean {
    if (this.pendingRecord !== undefined) return !(this.pendingRecord.type === 'perf_record' && this.pendingRecord.name === 'COMM');
    return this.pending === undefined || this.pending.payload === undefined;
  }

  /** Reports a problem of the line before the one being read, under its own line number. */
  private onPreviousLine(report: () => void): void {
    const where = this.ctx.where as { line: number };
    where.line--;
    try {
      report();
    } finally {
      where.line++;
    }
  }

  private unusable(text: string): void {
    if (BARE_PAYLOAD_RE.test(text)) {
      this.ctx.malformed(`a tracepoint payload without time and event columns (perf script -F trace?): print at least -F tid,time,event,trace`);
      return;
    }
    this.ctx.malformed(`not a perf script line: ${quoted(text)}`);
  }

  /** Each input is a recording of its own: its column layout and names are its own too. */
  endInput(): void {
    this.endCut();
    this.flush();
    this.flushHeader();
    this.layout = { taskWidth: 5 };
    this.prevTs = -Infinity;
    this.names.clear();
  }

  end(): void {
    this.endCut();
    this.flush();
    this.flushHeader();
  }

  /** The input ended after a cut line: it can only be the rest of the one before. */
  private endCut(): void {
    if (this.cut === undefined) return;
    const cut = this.cut;
    this.cut = undefined;
    if (!this.joinRest(cut)) this.unusable(cut);
  }

  /** What to tell the user once the input is read (on stderr, by whoever drives the parser). */
  notes(): string[] {
    const notes: string[] = [];
    const { backwards, samples, records, lost } = this.stats;
    if (backwards > 2 && backwards > (samples + records) / 20) {
      notes.push(
        `time went backwards ${backwards} times in ${samples + records} events: was this printed with --deltatime? Stages after this need absolute times (perf script --ns).`,
      );
    }
    if (lost > 0) notes.push(`perf lost ${lost} events while recording (PERF_RECORD_LOST): spans across those gaps are unknown`);
    if (this.stats.micros > 0) {
      notes.push(
        `${this.stats.micros} events have microsecond times (perf script without --ns): a GIL wait or hold shorter than 1 µs reads as 0 and every span is off by up to 1 µs; print with perf script --ns`,
      );
    }
    return notes;
  }

  // `#` lines: the --header block (before events), or an event whose comm starts with `#`.
  private headerLine(text: string): boolean {
    if (!HEADER_LINE_RE.test(text) && parseHead(text, this.layout) !== undefined) return false;
    this.flush();
    this.header ??= { meta: {}, events: [] };
    if (text.startsWith('# event : name = ')) {
      const rest = text.slice(17);
      const comma = rest.indexOf(',');
      this.header.events.push({
        name: comma === -1 ? rest : rest.slice(0, comma),
        attrs: comma === -1 ? '' : rest.slice(comma + 1).trim(),
      });
      return true;
    }
    // `# key : value`, and a few `# key: value` (clockid, reference time, pmu mappings).
    const colon = text.indexOf(':');
    if (colon > 2 && text.charCodeAt(colon + 1) === 32) {
      const key = text.slice(2, colon).trim();
      const value = utf8(text.slice(colon + 2).trim());
      // perf prints the file's time; a copy of a stream (lib/perf.ts) has time 0, which is no time.
      if (key === 'captured on' && value === TIME_ZERO) return true;
      this.header.meta[key] = key in this.header.meta ? `${this.header.meta[key]}\n${value}` : value;
    }
    return true;
  }

  private flushHeader(): void {
    if (this.header === undefined) return;
    this.emit({ type: 'header', ...this.header });
    this.stats.records++;
    this.header = undefined;
  }

  private event(head: Head, unpadded: boolean, text: string): void {
    if (head.ts > MAX_TIME) {
      // Read on, so that its frames go with it, and dropped at its end (flush).
      this.ctx.malformed(`a time past the 2^63 ns a perf clock can reach: ${quoted(text)}`);
      this.rejected = true;
    } else if (head.ts < this.prevTs) this.stats.backwards++;
    if (head.decimals === 6) this.stats.micros++;
    if (!this.rejected) this.prevTs = head.ts;
    this.pendingText = text;
    if (head.record !== undefined) {
      this.sideband(head);
      return;
    }
    const s: Sample = { type: 'sample', ts: head.ts, event: '' };
    if (head.comm !== undefined) {
      let comm = head.comm;
      if (head.padded && head.tid !== undefined) {
        const exact = this.names.get(head.tid);
        if (exact !== undefined && exact.endsWith(comm) && exact.trimStart() === comm) comm = exact;
      }
      s.comm = utf8(comm);
    }
    if (head.pid !== undefined) s.pid = head.pid;
    if (head.tid !== undefined) s.tid = head.tid;
    if (head.cpu !== undefined) s.cpu = head.cpu;
    if (head.period !== undefined) s.period = head.period;
    if (head.misc !== undefined) s.misc = head.misc;
    if (head.tod !== undefined) s.tod = head.tod;
    s.event = head.event!;
    if (head.payload.length > 0) {
      // Read once per distinct suffix; the records of those lines share what was read, frozen.
      const after = head.suffix;
      Object.assign(s, after === undefined ? parsePayload(head.event!, head.payload) : ((after.parsed as Payload | undefined) ??= frozen(parsePayload(head.event!, head.payload))));
    }
    this.pending = s;
    this.pendingUnpadded = unpadded;
    this.lastFrame = undefined;
  }

  private addFrame(text: string): void {
    this.pendingText = undefined;
    const frame = parseFrame(text.trimStart());
    (this.pending!.callchain ??= []).push(frame);
    this.lastFrame = frame;
  }

  private flush(): void {
    this.pendingText = undefined;
    if (this.rejected) {
      this.rejected = false;
      this.pendingRecord = undefined;
      this.pending = undefined;
      this.lastFrame = undefined;
      return;
    }
    if (this.pendingRecord !== undefined) {
      this.emit(this.pendingRecord);
      this.stats.records++;
      this.pendingRecord = undefined;
    }
    if (this.pending === undefined) return;
    this.emit(this.pending);
    this.stats.samples++;
    this.pending = undefined;
    this.lastFrame = undefined;
  }

  private sideband(head: Head): void {
    const body = head.record!;
    const ts = head.ts;
    const cpu = head.cpu !== undefined ? { cpu: head.cpu } : {};
    let m: RegExpExecArray | null;
    let rec: PerfParseRecord;
    // SWITCH records, a third of a recording with --switch-events, match none of the patterns below.
    if (body.charCodeAt(0) === 83 /* S */) rec = otherRecord(head, head.suffix === undefined ? nameAndBody(body) : ((head.suffix.parsed as NameAndBody | undefined) ??= nameAndBody(body)));
    else if ((m = /^COMM( exec)?: ([\s\S]*):(-?\d+)\/(-?\d+)\s*$/.exec(body))) {
      rec = { type: 'comm', ts, ...cpu, pid: Number(m[3]), tid: Number(m[4]), comm: utf8(m[2]!), exec: m[1] !== undefined };
      if (m[2]!.charCodeAt(0) === 32) this.names.set(Number(m[4]), m[2]!);
      else this.names.delete(Number(m[4]));
    } else if ((m = /^(FORK|EXIT)\((-?\d+):(-?\d+)\):\((-?\d+):(-?\d+)\)/.exec(body))) {
      const task = { ts, ...cpu, pid: Number(m[2]), tid: Number(m[3]), ppid: Number(m[4]), ptid: Number(m[5]) };
      rec = m[1] === 'FORK' ? { type: 'fork', ...task } : { type: 'exit', ...task };
    } else if ((m = /^LOST\b.*?(\d+)\s*$/.exec(body))) {
      rec = { type: 'lost', ts, ...cpu, lost: Number(m[1]) };
      this.stats.lost += Number(m[1]);
    } else rec = otherRecord(head, nameAndBody(body));
    this.pendingRecord = rec;
  }
}

interface NameAndBody {
  name: string;
  body: string;
}

/** Any other PERF_RECORD_ line: its name (`[A-Z0-9_]+`), and the rest after a `:` and blanks, trimmed. */
function nameAndBody(body: string): NameAndBody {
  let k = 0;
  for (;;) {
    const c = body.charCodeAt(k);
    if (!((c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95)) break;
    k++;
  }
  const name = body.slice(0, k);
  if (body.charCodeAt(k) === 58 /* : */) k++;
  while (isBlank(body.charCodeAt(k))) k++;
  return { name, body: utf8(body.slice(k).trimEnd()) };
}

function otherRecord(head: Head, { name, body }: NameAndBody): PerfRecord {
  // Built in the order it is written (type, ts, cpu, name, body, tid, pid), without an object spread per record.
  const r = { type: 'perf_record', ts: head.ts } as PerfRecord;
  if (head.cpu !== undefined) r.cpu = head.cpu;
  r.name = name;
  r.body = body;
  if (head.tid !== undefined) r.tid = head.tid;
  if (head.pid !== undefined) r.pid = head.pid;
  return r;
}

/** A payload whose parts may be shared by many records: any change to one would show in all, so none may be made. */
function frozen(p: Payload): Payload {
  for (const v of Object.values(p)) if (typeof v === 'object' && v !== null) Object.freeze(v);
  return Object.freeze(p);
}

/** What `\s` matches in latin1 text (the lines are read as latin1). */
function isBlank(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 160;
}

/** A line as a message quotes it: its start, as JSON (its bytes UTF-8 again). */
function quoted(text: string): string {
  return JSON.stringify(utf8(text.length > 70 ? text.slice(0, 67) + '...' : text));
}
