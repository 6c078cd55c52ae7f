// perf-parse's logic: `perf script` text in, one record per event out.
// Fed one line at a time; emits `header`, `sample`, `comm`, `fork`, `exit`,
// `lost`, `perf_record` and `perf_message` records (docs/events.md).
import type { LineHandler } from '../lib/stage.js';
import {
  type Frame,
  type Head,
  type Layout,
  isFrameLine,
  parseFrame,
  parseHead,
  parsePayload,
  utf8,
} from '../lib/perf-grammar.js';

export interface Sample {
  type: 'sample';
  ts: number;
  comm?: string;
  pid?: number;
  tid?: number;
  cpu?: number;
  period?: number;
  misc?: string;
  tod?: string;
  event: string;
  fields?: Record<string, unknown>;
  probe?: { func: string; ret?: string };
  payload?: string;
  addr?: Frame;
  ip?: Frame;
  callchain?: Frame[];
}

export interface PerfParseStats {
  lines: number;
  samples: number;
  records: number;
  lost: number;
  /** Events whose time is earlier than the one before (a sign of --deltatime). */
  backwards: number;
}

export interface Sinks {
  emit: (rec: object) => void;
  malformed: (line: number, why: string) => void;
}

const PERF_MESSAGE_RE =
  /^(Warning:|WARNING:|Processed \d+ (events|samples)|Check IO\/CPU overload|\d+ out of order events|Found \d+ unknown events|Found invalid callchains|\d+ unprocessable samples|AUX data lost|incompatible file format|Was the 'perf record' command|zero-sized data|0x[0-9a-f]+ \[0x[0-9a-f]+\]: failed to process type)/;
const LOST_CHUNKS_RE = /^Processed (\d+) events and lost (\d+) chunks!/;
const BARE_PAYLOAD_RE = /^(prev_comm=|comm=|\([0-9a-f]+( <- [0-9a-f]+)?\)$|[a-z_]+=)/;
const HEADER_LINE_RE = /^#($| =+$| [A-Za-z][^:]*: | [A-Z_]+ info available)/;

export class PerfParser implements LineHandler {
  readonly stats: PerfParseStats = { lines: 0, samples: 0, records: 0, lost: 0, backwards: 0 };
  private readonly layout: Layout = { taskWidth: 5 };
  private pending: Sample | undefined;
  /** The pending event's line had no padding: space-indented frames may follow. */
  private pendingUnpadded = false;
  private lastFrame: Frame | undefined;
  private header: { meta: Record<string, string>; events: Array<{ name: string; attrs: string }> } | undefined;
  private prevTs = -Infinity;
  /** Names from PERF_RECORD_COMM, exact: the padded comm column cannot show a name's own leading spaces. */
  private readonly names = new Map<number, string>();

  constructor(private readonly out: Sinks) {}

  line(text: string, lineno: number): void {
    this.stats.lines++;
    const c0 = text.charCodeAt(0);
    // A blank line ends a callchain block; one of only blanks is taken the same way.
    if (text.length === 0 || (c0 <= 32 && text.trim() === '')) {
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
      this.event(head, c0 !== 32);
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
      this.out.emit({ type: 'perf_message', text: utf8(text), ...(lost ? { lost_chunks: Number(lost[2]) } : {}) });
      return;
    }
    if (BARE_PAYLOAD_RE.test(text)) {
      this.out.malformed(lineno, `a tracepoint payload without time and event columns (perf script -F trace?): print at least -F tid,time,event,trace`);
      return;
    }
    this.out.malformed(lineno, `not a perf script line: ${JSON.stringify(utf8(text.length > 70 ? text.slice(0, 67) + '...' : text))}`);
  }

  cut(text: string, lineno: number): void {
    this.stats.lines++;
    // perf ends every line with a newline: a last line without one was cut
    // short (a killed pipe, `head -c`), and its fields may be cut too.
    this.out.malformed(lineno, `line cut short at end of input: ${JSON.stringify(utf8(text.slice(0, 60)))}`);
  }

  end(): void {
    this.flush();
    this.flushHeader();
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
      this.header.meta[key] = key in this.header.meta ? `${this.header.meta[key]}\n${value}` : value;
    }
    return true;
  }

  private flushHeader(): void {
    if (this.header === undefined) return;
    this.out.emit({ type: 'header', ...this.header });
    this.stats.records++;
    this.header = undefined;
  }

  private event(head: Head, unpadded: boolean): void {
    if (head.ts < this.prevTs) this.stats.backwards++;
    this.prevTs = head.ts;
    if (head.record !== undefined) {
      this.sideband(head);
      return;
    }
    const s: Sample = { type: 'sample', ts: head.ts } as Sample;
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
    if (head.payload.length > 0) Object.assign(s, parsePayload(head.event!, head.payload));
    this.pending = s;
    this.pendingUnpadded = unpadded;
    this.lastFrame = undefined;
  }

  private addFrame(text: string): void {
    const frame = parseFrame(text.trimStart());
    (this.pending!.callchain ??= []).push(frame);
    this.lastFrame = frame;
  }

  private flush(): void {
    if (this.pending === undefined) return;
    this.out.emit(this.pending);
    this.stats.samples++;
    this.pending = undefined;
    this.lastFrame = undefined;
  }

  private sideband(head: Head): void {
    const body = head.record!;
    const base: Record<string, unknown> = { ts: head.ts };
    if (head.cpu !== undefined) base.cpu = head.cpu;
    let m: RegExpExecArray | null;
    let rec: Record<string, unknown>;
    if ((m = /^COMM( exec)?: (.*):(-?\d+)\/(-?\d+)\s*$/.exec(body))) {
      rec = { type: 'comm', ...base, pid: Number(m[3]), tid: Number(m[4]), comm: utf8(m[2]!), exec: m[1] !== undefined };
      if (m[2]!.charCodeAt(0) === 32) this.names.set(Number(m[4]), m[2]!);
      else this.names.delete(Number(m[4]));
    } else if ((m = /^(FORK|EXIT)\((-?\d+):(-?\d+)\):\((-?\d+):(-?\d+)\)/.exec(body))) {
      rec = {
        type: m[1] === 'FORK' ? 'fork' : 'exit',
        ...base,
        pid: Number(m[2]),
        tid: Number(m[3]),
        ppid: Number(m[4]),
        ptid: Number(m[5]),
      };
    } else if ((m = /^LOST\b.*?(\d+)\s*$/.exec(body))) {
      rec = { type: 'lost', ...base, lost: Number(m[1]) };
      this.stats.lost += Number(m[1]);
    } else {
      const name = /^[A-Z0-9_]+/.exec(body)?.[0] ?? '';
      rec = { type: 'perf_record', ...base, name, body: utf8(body.slice(name.length).replace(/^:?\s*/, '').trimEnd()) };
      if (head.tid !== undefined) rec.tid = head.tid;
      if (head.pid !== undefined) rec.pid = head.pid;
    }
    this.out.emit(rec);
    this.stats.records++;
  }
}

// ------------------------------------------------------------ serialising
// The hot path of perf-parse is writing samples: a serialiser that knows
// their shape is about twice as fast as JSON.stringify walking each object
// (bench/serialise.mjs). Key order is fixed; everything else is JSON.stringify.
const q = JSON.stringify;

function flatJson(o: Record<string, unknown>): string {
  let s = '{';
  let first = true;
  for (const k in o) {
    const v = o[k];
    s += (first ? '' : ',') + q(k) + ':' + (typeof v === 'number' ? String(v) : q(v));
    first = false;
  }
  return s + '}';
}

export function sampleJson(r: Sample): string {
  let s = '{"type":"sample","ts":' + r.ts;
  if (r.comm !== undefined) s += ',"comm":' + q(r.comm);
  if (r.pid !== undefined) s += ',"pid":' + r.pid;
  if (r.tid !== undefined) s += ',"tid":' + r.tid;
  if (r.cpu !== undefined) s += ',"cpu":' + r.cpu;
  if (r.period !== undefined) s += ',"period":' + r.period;
  if (r.misc !== undefined) s += ',"misc":' + q(r.misc);
  if (r.tod !== undefined) s += ',"tod":' + q(r.tod);
  s += ',"event":' + q(r.event);
  if (r.fields !== undefined) s += ',"fields":' + flatJson(r.fields);
  if (r.probe !== undefined) s += r.probe.ret === undefined ? ',"probe":{"func":"' + r.probe.func + '"}' : ',"probe":{"func":"' + r.probe.func + '","ret":"' + r.probe.ret + '"}';
  if (r.payload !== undefined) s += ',"payload":' + q(r.payload);
  if (r.addr !== undefined) s += ',"addr":' + q(r.addr);
  if (r.ip !== undefined) s += ',"ip":' + q(r.ip);
  if (r.callchain !== undefined) s += ',"callchain":' + q(r.callchain);
  return s + '}';
}

/** One record as a line of JSON. */
export function recordJson(rec: object): string {
  return (rec as { type?: string }).type === 'sample' ? sampleJson(rec as Sample) : JSON.stringify(rec);
}
