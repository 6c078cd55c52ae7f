// to-trace's logic: gil-state records in, Chrome Trace Event JSON out
// (the format Perfetto UI, chrome://tracing and vizviewer open).
//
// Where things go on the timeline, and why:
// - GIL and scheduler spans are nestable async slices (`b`/`e`), one async
//   track per thread and family (cat `gil` or `sched`, id = tid). A thread's
//   own track is where VizTracer puts its function slices after a merge, and
//   Perfetto's JSON importer (v51-v56) drops an `X` that partially overlaps
//   another slice on one track; a GIL span crosses function boundaries all
//   the time, so it must not share that track.
// - Perfetto names an async track after the first event on it and merges a
//   process's async tracks that have the same name; so each track opens with
//   a 0-length `n` event named after its thread ("GIL 2578"), one nanosecond
//   before its first span. Catapult draws async slices under the thread that
//   began them, one row per slice name.
// - Handoff arrows are flow v2 (`bind_id`, `flow_out`/`flow_in`) on 0-length
//   `X` slices on the two threads' own tracks: Catapult binds flows only to
//   thread slices, and a 0-length slice cannot partially overlap anything.
// - Counters (threads waiting for the GIL, the holder's tid) need events in
//   time order, but gil-state writes a span when it ends. Counter changes wait
//   in a heap until no span still to come can start before them: spans arrive
//   in order of their end, so a change older than (latest end - longest wait
//   seen, at least COUNTER_WINDOW) is final. Memory grows with the event rate
//   times that window, not with the input.
import type { Rec } from '../lib/stage.js';
import { usText } from '../lib/trace-time.js';

export type Family = 'gil' | 'sched';

export interface ToTraceOptions {
  format: 'json' | 'ndjson';
  families: ReadonlySet<Family>;
  counters: boolean;
  flows: boolean;
  diagnostics: boolean;
  /** Spans shorter than this (ns) are not drawn (they still count in counters). */
  minDur: number;
  /** Only these processes, when given. */
  pids: ReadonlySet<number> | undefined;
  /** Time window in ns: spans are clipped to it, events outside are left out. */
  from: number | undefined;
  to: number | undefined;
  /** Written into viztracer_metadata.version. */
  version: string;
}

export const DEFAULT_OPTIONS: ToTraceOptions = {
  format: 'json',
  families: new Set<Family>(['gil', 'sched']),
  counters: true,
  flows: true,
  diagnostics: true,
  minDur: 0,
  pids: undefined,
  from: undefined,
  to: undefined,
  version: '0.0.0',
};

/** The least time a counter change waits for spans that may still start before it. */
export const COUNTER_WINDOW = 2_000_000_000;

export interface ToTraceStats {
  records: number;
  spans: number;
  events: number;
  /** Spans whose pid was null: drawn under pid = tid. */
  noPid: number;
  /** GIL waits/holds that started before counters were already written out. */
  lateCounters: number;
  gilSource: string | undefined;
}

const GIL_NAMES: Record<string, string> = {
  hold: 'GIL held',
  handoff: 'GIL handoff (drop_gil)',
};

function spanName(family: Family, state: string, rec: Rec): string {
  if (family === 'gil') {
    if (state === 'wait') return `GIL wait (${typeof rec.via === 'string' ? rec.via : 'take_gil'})`;
    return GIL_NAMES[state] ?? `GIL ${state}`;
  }
  switch (state) {
    case 'running':
    case 'runnable':
      return state;
    case 'sleeping':
      return rec.gil === true ? 'S(GIL)' : 'S';
    case 'blocked':
      return rec.gil === true ? 'D(GIL)' : 'D';
    default:
      return typeof rec.letter === 'string' ? `${state} (${rec.letter})` : state;
  }
}

const quotedNames = new Map<string, string>();
function quoted(name: string): string {
  let q = quotedNames.get(name);
  if (q === undefined) {
    q = JSON.stringify(name);
    if (quotedNames.size < 1000) quotedNames.set(name, q);
  }
  return q;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isTime = (v: unknown): v is number => isInt(v) && v >= 0;

interface ProcCounters {
  waiting: number;
  holder: number;
  writtenWaiting: number;
  writtenHolder: number;
  /** Something was written (or the window edge passed). */
  started: boolean;
}

/**
 * Counter changes in time order, packed in typed arrays (a few bytes each:
 * there may be a few hundred thousand in the window). They arrive nearly
 * sorted (a span's end is the latest time seen, its start a little before),
 * so a sorted buffer that inserts near its tail and is consumed from its head
 * beats a heap. Equal times keep arrival order.
 */
class ChangeQueue {
  private cap = 1024;
  private ts = new Float64Array(this.cap);
  private pid = new Int32Array(this.cap);
  private val = new Int32Array(this.cap);
  private tid = new Int32Array(this.cap);
  private kind = new Uint8Array(this.cap);
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  /** kind 0: waiting += val; kind 1: holder = val (0: tid's hold ended). */
  push(ts: number, pid: number, kind: 0 | 1, val: number, tid: number): void {
    if (this.tail === this.cap) this.makeRoom();
    let pos = this.tail;
    if (pos > this.head && this.ts[pos - 1]! > ts) {
      let lo = this.head;
      let hi = pos;
      while (lo < hi) {
        const m = (lo + hi) >> 1;
        if (this.ts[m]! <= ts) lo = m + 1;
        else hi = m;
      }
      pos = lo;
      for (const arr of [this.ts, this.pid, this.val, this.tid, this.kind]) arr.copyWithin(pos + 1, pos, this.tail);
    }
    this.ts[pos] = ts;
    this.pid[pos] = pid;
    this.val[pos] = val;
    this.tid[pos] = tid;
    this.kind[pos] = kind;
    this.tail++;
  }

  private makeRoom(): void {
    const live = this.tail - this.head;
    if (live * 2 > this.cap) {
      this.cap *= 2;
      const grow = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
        const b = make(this.cap);
        b.set(a.subarray(this.head, this.tail));
        return b;
      };
      this.ts = grow(this.ts, (n) => new Float64Array(n));
      this.pid = grow(this.pid, (n) => new Int32Array(n));
      this.val = grow(this.val, (n) => new Int32Array(n));
      this.tid = grow(this.tid, (n) => new Int32Array(n));
      this.kind = grow(this.kind, (n) => new Uint8Array(n));
    } else {
      for (const arr of [this.ts, this.pid, this.val, this.tid, this.kind]) arr.copyWithin(0, this.head, this.tail);
    }
    this.tail = live;
    this.head = 0;
  }

  /** Time of the earliest change, or undefined when empty. */
  peekTs(): number | undefined {
    return this.head < this.tail ? this.ts[this.head] : undefined;
  }

  /** Removes the earliest change into `out`. */
  shift(out: { pid: number; kind: number; val: number; tid: number }): void {
    const i = this.head++;
    out.pid = this.pid[i]!;
    out.kind = this.kind[i]!;
    out.val = this.val[i]!;
    out.tid = this.tid[i]!;
  }
}

export type MalformedSink = (why: string) => void;

/**
 * Turns gil-state records into trace events. Feed records with `record`,
 * collect text with `take` (call it as often as you like), and end with
 * `finish`, which returns the rest of the text (metadata and, in JSON form,
 * the closing of the object).
 */
export class TraceBuilder {
  readonly stats: ToTraceStats = { records: 0, spans: 0, events: 0, noPid: 0, lateCounters: 0, gilSource: undefined };
  private buf: string;
  private first = true;
  private readonly sep: string;
  /** Async tracks per family and tid: the event text up to ts, and the earliest ts drawn. */
  private readonly tracks: Record<Family, Map<number, { pid: number; first: number; b: string; e: string }>> = { gil: new Map(), sched: new Map() };
  /** tid -> pid as drawn, so metadata lands on the same process as the spans. */
  private readonly pidOfTid = new Map<number, number>();
  private readonly threads = new Map<number, { pid: number; comm: string; main: boolean }>();
  private readonly processes = new Map<number, string>();
  private readonly procCounters = new Map<number, ProcCounters>();
  private readonly changes = new ChangeQueue();
  private readonly change = { pid: 0, kind: 0, val: 0, tid: 0 };
  private latestEnd = 0;
  private flushedTo = -1;
  private window = COUNTER_WINDOW;
  private flowId = 0;
  private finished = false;

  constructor(
    private readonly opts: ToTraceOptions,
    private readonly malformed: MalformedSink = () => undefined,
  ) {
    this.sep = opts.format === 'json' ? ',\n' : '\n';
    this.buf = opts.format === 'json' ? '{"traceEvents":[\n' : '';
  }

  /** Text produced so far, and forget it. */
  take(): string {
    const s = this.buf;
    this.buf = '';
    return s;
  }

  private ev(text: string): void {
    if (this.first) {
      this.first = false;
      this.buf += text;
    } else {
      this.buf += this.sep + text;
    }
    this.stats.events++;
  }

  record(rec: Rec): void {
    this.stats.records++;
    switch (rec.type) {
      case 'span':
        this.span(rec);
        return;
      case 'handoff':
        this.handoff(rec);
        return;
      case 'diagnostic':
        this.diagnostic(rec);
        return;
      case 'thread':
        this.thread(rec);
        return;
      case 'process':
        this.process(rec);
        return;
      case 'capture':
        this.capture(rec);
        return;
      default:
      // Pass-through records of earlier stages (and users' own) are not part of a trace.
    }
  }

  private pidFor(pid: unknown, tid: number): number {
    if (isInt(pid) && pid >= 0) {
      this.pidOfTid.set(tid, pid);
      return pid;
    }
    // No pid: the thread stands for its own process (and says so on stderr).
    return this.pidOfTid.get(tid) ?? tid;
  }

  private wanted(pid: number): boolean {
    return this.opts.pids === undefined || this.opts.pids.has(pid);
  }

  /** Clips [ts, end) to the window; undefined when nothing is left. */
  private clip(ts: number, end: number): [number, number] | undefined {
    const { from, to } = this.opts;
    const s = from !== undefined && ts < from ? from : ts;
    const e = to !== undefined && end > to ? to : end;
    if (e < s || (e === s && ts !== end)) return undefined;
    return [s, e];
  }

  private inWindow(ts: number): boolean {
    const { from, to } = this.opts;
    return (from === undefined || ts >= from) && (to === undefined || ts <= to);
  }

  private span(rec: Rec): void {
    const { tid, ts, dur, family, state } = rec;
    if (!isInt(tid) || !isTime(ts) || !isTime(dur) || (family !== 'gil' && family !== 'sched') || typeof state !== 'string') {
      this.malformed('span without an integer tid, ts and dur, a family (gil or sched) and a state');
      return;
    }
    this.stats.spans++;
    if (rec.pid === null || rec.pid === undefined) this.stats.noPid++;
    const pid = this.pidFor(rec.pid, tid);
    if (!this.wanted(pid)) return;
    const end = ts + dur;
    if (end > this.latestEnd) this.latestEnd = end;
    if (family === 'gil' && this.opts.counters && (state === 'wait' || state === 'hold')) this.countSpan(pid, tid, state, ts, end);
    if (this.opts.families.has(family) && dur >= this.opts.minDur) {
      const c = this.clip(ts, end);
      if (c !== undefined) this.drawSpan(pid, tid, family, spanName(family, state, rec), c[0], c[1], rec, c[0] !== ts || c[1] !== end);
    }
    if (this.opts.counters) this.flushCounters(false);
  }

  private drawSpan(pid: number, tid: number, family: Family, name: string, ts: number, end: number, rec: Rec, clipped: boolean): void {
    const tracks = this.tracks[family];
    let tr = tracks.get(tid);
    if (tr === undefined || tr.pid !== pid) {
      const where = `"cat":"${family}","id":${tid},"pid":${pid},"tid":${tid},"ts":`;
      tr = { pid, first: Infinity, b: `{"ph":"b",${where}`, e: `{"ph":"e",${where}` };
      tracks.set(tid, tr);
    }
    if (ts < tr.first) {
      // Names the track in Perfetto: it must be the earliest event on it.
      const at = ts > 0 ? ts - 1 : 0;
      tr.first = at;
      this.ev(`{"ph":"n","cat":"${family}","id":${tid},"pid":${pid},"tid":${tid},"ts":${usText(at)},"name":"${family === 'gil' ? 'GIL' : 'sched'} ${tid}"}`);
    }
    let args = '';
    // The name says S or D already; R or R+ (preempted) it does not.
    if (family === 'sched' && typeof rec.letter === 'string' && rec.state !== 'sleeping' && rec.state !== 'blocked') {
      args += `,"letter":${JSON.stringify(rec.letter)}`;
    }
    if (rec.partial === true) args += ',"partial":true';
    if (rec.truncated === true) args += ',"truncated":true';
    if (rec.unknown === true) args += ',"unknown":true';
    if (clipped) args += ',"clipped":true';
    const nameText = quoted(name);
    this.ev(`${tr.b}${usText(ts)},"name":${nameText}${args ? `,"args":{${args.slice(1)}}` : ''}}`);
    this.ev(`${tr.e}${usText(end)},"name":${nameText}}`);
    if (this.opts.diagnostics) {
      // Gaps in the data show on the thread's own track, where the eye is.
      if (rec.partial === true) this.instant(pid, tid, ts, `partial: ${name}`, 'the start of this state was not recorded', 't');
      if (rec.truncated === true) this.instant(pid, tid, end, `truncated: ${name}`, 'still open at the end of the recording', 't');
      if (rec.unknown === true) this.instant(pid, tid, end, `unknown: ${name}`, 'closed early: events were lost or came in an impossible order', 't');
    }
  }

  private instant(pid: number | undefined, tid: number | undefined, ts: number, name: string, message: string, scope: 't' | 'p' | 'g'): void {
    if (!this.inWindow(ts)) return;
    // Global instants belong to no process; pid 0 keeps every pid a number.
    const where = `"pid":${pid ?? 0},"tid":${tid ?? pid ?? 0},`;
    this.ev(`{"ph":"i","cat":"gilpipe","s":"${scope}",${where}"ts":${usText(ts)},"name":${JSON.stringify(name)},"args":{"message":${JSON.stringify(message)}}}`);
  }

  private handoff(rec: Rec): void {
    if (!this.opts.flows) return;
    const { ts, from_tid: fromTid, to_tid: toTid, released_ts: releasedTs } = rec;
    if (!isTime(ts) || !isInt(toTid)) {
      this.malformed('handoff without an integer ts and to_tid');
      return;
    }
    // The first take of a process has nobody to hand over from: no arrow.
    if (!isInt(fromTid) || !isTime(releasedTs)) return;
    const pid = this.pidFor(rec.pid, toTid);
    if (!this.wanted(pid) || !this.inWindow(releasedTs) || !this.inWindow(ts)) return;
    const fromPid = this.pidOfTid.get(fromTid) ?? pid;
    const id = ++this.flowId;
    const gap = isInt(rec.gap) ? rec.gap : ts - releasedTs;
    // Producer first: Catapult pairs flow ends in (ts, file order).
    this.ev(
      `{"ph":"X","cat":"gil","pid":${fromPid},"tid":${fromTid},"ts":${usText(releasedTs)},"dur":0,"name":"GIL released","bind_id":${id},"flow_out":true,"args":{"to_tid":${toTid}}}`,
    );
    let args = `"from_tid":${fromTid},"gap_us":${usText(gap)}`;
    if (isInt(rec.waker_tid)) args += `,"waker_tid":${rec.waker_tid}`;
    this.ev(`{"ph":"X","cat":"gil","pid":${pid},"tid":${toTid},"ts":${usText(ts)},"dur":0,"name":"GIL taken","bind_id":${id},"flow_in":true,"args":{${args}}}`);
  }

  private diagnostic(rec: Rec): void {
    if (!this.opts.diagnostics) return;
    const { ts, code } = rec;
    if (!isTime(ts) || typeof code !== 'string') {
      this.malformed('diagnostic without an integer ts and a code');
      return;
    }
    const message = typeof rec.message === 'string' ? rec.message : code;
    const tid = isInt(rec.tid) ? rec.tid : undefined;
    const pid = tid !== undefined ? this.pidFor(rec.pid, tid) : isInt(rec.pid) ? rec.pid : undefined;
    if (pid !== undefined && !this.wanted(pid)) return;
    if (tid !== undefined) this.instant(pid, tid, ts, code, message, 't');
    else if (pid !== undefined) this.instant(pid, pid, ts, code, message, 'p');
    else this.instant(undefined, undefined, ts, code, message, 'g');
  }

  private thread(rec: Rec): void {
    if (!isInt(rec.tid)) {
      this.malformed('thread record without an integer tid');
      return;
    }
    const pid = this.pidFor(rec.pid, rec.tid);
    const comm = typeof rec.comm === 'string' && rec.comm.length > 0 ? rec.comm : String(rec.tid);
    this.threads.set(rec.tid, { pid, comm, main: rec.main === true || rec.tid === pid });
  }

  private process(rec: Rec): void {
    if (!isInt(rec.pid)) return;
    if (typeof rec.comm === 'string' && rec.comm.length > 0) this.processes.set(rec.pid, rec.comm);
  }

  private capture(rec: Rec): void {
    if (typeof rec.gil_source === 'string') this.stats.gilSource = rec.gil_source;
    if (rec.gil_source === 'none' && this.opts.diagnostics && isTime(rec.first_ts)) {
      this.instant(undefined, undefined, rec.first_ts, 'no GIL events', 'no take_gil/drop_gil probe events in the recording: only scheduler states are drawn, nothing here says who held the GIL', 'g');
    }
  }

  // Counters --------------------------------------------------------------

  private countSpan(pid: number, tid: number, state: 'wait' | 'hold', ts: number, end: number): void {
    let start = ts;
    if (start <= this.flushedTo) {
      // Began before changes already written: count it from there on only.
      this.stats.lateCounters++;
      if (end <= this.flushedTo) return;
      start = this.flushedTo + 1;
    }
    if (state === 'wait') {
      // A wait can be long; changes wait at least that long before they are final.
      if (end - ts > this.window / 2) this.window = Math.min(2 * (end - ts), 600_000_000_000);
      this.changes.push(start, pid, 0, 1, tid);
      this.changes.push(end, pid, 0, -1, tid);
    } else {
      this.changes.push(start, pid, 1, tid, tid);
      this.changes.push(end, pid, 1, 0, tid);
    }
  }

  /** Writes out counter changes that are final; all of them (or until `stopAt` chars are buffered) when `all`. */
  private flushCounters(all: boolean, stopAt = Infinity): void {
    const limit = all ? Infinity : this.latestEnd - this.window;
    const { from } = this.opts;
    const c = this.change;
    for (;;) {
      const ts = this.changes.peekTs();
      if (ts === undefined || ts > limit || this.buf.length >= stopAt) return;
      // All changes at one time make one sample per process.
      const touched: number[] = [];
      while (this.changes.peekTs() === ts) {
        this.changes.shift(c);
        let p = this.procCounters.get(c.pid);
        if (p === undefined) {
          p = { waiting: 0, holder: 0, writtenWaiting: 0, writtenHolder: 0, started: false };
          this.procCounters.set(c.pid, p);
        }
        // The window opens mid-trace: the values in force at its edge come first.
        if (from !== undefined && ts > from && !p.started && !touched.includes(c.pid)) this.writeCounters(c.pid, from);
        if (c.kind === 0) p.waiting += c.val;
        else if (c.val !== 0) p.holder = c.val;
        // A hold's end clears the holder only if it is still that thread's:
        // overlapping holds are an anomaly gil-state reports on its own.
        else if (p.holder === c.tid) p.holder = 0;
        if (!touched.includes(c.pid)) touched.push(c.pid);
      }
      this.flushedTo = ts;
      for (const pid of touched) this.writeCounters(pid, ts);
    }
  }

  private writeCounters(pid: number, ts: number): void {
    const p = this.procCounters.get(pid)!;
    if (!this.inWindow(ts)) return;
    p.started = true;
    if (p.writtenWaiting !== p.waiting) {
      this.ev(`{"ph":"C","pid":${pid},"tid":${pid},"ts":${usText(ts)},"name":"GIL waiting","args":{"threads":${Math.max(0, p.waiting)}}}`);
      p.writtenWaiting = p.waiting;
    }
    if (p.writtenHolder !== p.holder) {
      this.ev(`{"ph":"C","pid":${pid},"tid":${pid},"ts":${usText(ts)},"name":"GIL holder","args":{"tid":${p.holder}}}`);
      p.writtenHolder = p.holder;
    }
  }

  /**
   * Ends the trace: remaining counters, names, and the closing of the object,
   * in pieces of about a megabyte (the counter window may hold many).
   */
  *finish(): Generator<string> {
    if (this.finished) return;
    this.finished = true;
    if (this.opts.counters) {
      while (this.changes.size > 0) {
        this.flushCounters(true, 1 << 20);
        yield this.take();
      }
    }
    for (const [pid, comm] of this.processes) {
      if (!this.wanted(pid)) continue;
      this.ev(`{"ph":"M","pid":${pid},"tid":${pid},"name":"process_name","args":{"name":${JSON.stringify(comm)}}}`);
    }
    for (const [tid, t] of this.threads) {
      if (!this.wanted(t.pid)) continue;
      const name = t.main ? `${t.comm} (main thread)` : t.comm;
      this.ev(`{"ph":"M","pid":${t.pid},"tid":${tid},"name":"thread_name","args":{"name":${JSON.stringify(name)}}}`);
    }
    if (this.opts.format === 'json') {
      // viztracer_metadata: `viztracer --combine` 0.15-0.17 fails without it (KeyError).
      this.buf +=
        `${this.first ? '' : '\n'}],"displayTimeUnit":"ns",` +
        `"viztracer_metadata":{"overflow":false,"version":${JSON.stringify(this.opts.version)}},` +
        `"file_info":{"files":{},"functions":{}}}\n`;
    } else if (!this.first) {
      this.buf += '\n';
    }
    yield this.take();
  }
}
