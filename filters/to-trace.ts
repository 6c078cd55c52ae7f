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
// - Counters (threads waiting for the GIL, the holder's tid) are per process,
//   in time order although spans arrive in order of their end
//   (filters/to-trace/counters.ts).
// - Processes with GIL data come first, the most contended on top; short
//   processes without GIL events (a pyenv shim's bash, readlink, basename)
//   are folded into one row at the bottom (filters/to-trace/processes.ts).
//   Times stay absolute µs (CLOCK_MONOTONIC, as VizTracer's), so merge-trace
//   lines the traces up; the viewers draw them from the first event as zero.
import type { Context, Emit, Filter } from '../lib/filter.js';
import { usText } from '../lib/trace-time.js';
import { CaptureIds, HandoffOrder } from './captures.js';
import { type AnyRecord, type Capture, type Diagnostic, type GilSource, type Handoff, type ProcessInfo, type Span, type ThreadInfo, quoted } from './records.js';
import { GilCounters } from './to-trace/counters.js';
import { ProcessOrder, type Folded } from './to-trace/processes.js';
import { TraceText, type TraceFormat } from './to-trace/trace-text.js';
import { TimeWindow } from './to-trace/window.js';

export type Family = Span['family'];

export interface ToTraceOptions {
  format: TraceFormat;
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

export const DEFAULTS: ToTraceOptions = {
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

export interface ToTraceStats {
  records: number;
  spans: number;
  /** Spans whose pid was null: drawn under pid = tid. */
  noPid: number;
  /** GIL waits/holds that started before counters were already written out. */
  lateCounters: number;
  gilSource: GilSource | undefined;
}

/** Emitted text is cut into pieces of about this many characters where it can be (the counter window may hold megabytes): a long string built of many pieces lives long enough to be promoted out of the young generation. */
const PIECE = 1 << 16;

/** per4m's names for the states. */
export function spanName(rec: Span): string {
  if (rec.family === 'gil') {
    switch (rec.state) {
      case 'wait':
        return `GIL wait (${rec.via ?? 'take_gil'})`;
      case 'hold':
        return 'GIL held';
      case 'handoff':
        return 'GIL handoff (drop_gil)';
    }
  }
  switch (rec.state) {
    case 'running':
    case 'runnable':
      return rec.state;
    case 'sleeping':
      return rec.gil === true ? 'S(GIL)' : 'S';
    case 'blocked':
      return rec.gil === true ? 'D(GIL)' : 'D';
    case 'other':
      return rec.letter !== undefined ? `other (${rec.letter})` : 'other';
  }
}

/**
 * The span's name as JSON text. Made and hashed per span, the name was 1.5 %
 * of to-trace's CPU: all but `other (X)` and a wait of another source are
 * taken from a few texts made once, from spanName itself.
 */
export function spanNameText(rec: Span): string {
  if (rec.family === 'gil') {
    if (rec.state === 'hold') return NAME_TEXT.held;
    if (rec.state === 'handoff') return NAME_TEXT.handoff;
    return rec.via === undefined || rec.via === 'take_gil' ? NAME_TEXT.wait : quoted(spanName(rec));
  }
  switch (rec.state) {
    case 'running':
      return NAME_TEXT.running;
    case 'runnable':
      return NAME_TEXT.runnable;
    case 'sleeping':
      return rec.gil === true ? NAME_TEXT.sleepingGil : NAME_TEXT.sleeping;
    case 'blocked':
      return rec.gil === true ? NAME_TEXT.blockedGil : NAME_TEXT.blocked;
    case 'other':
      return quoted(spanName(rec));
  }
}

const nameText = (fields: Pick<Span, 'family' | 'state'> & { gil?: boolean }): string => JSON.stringify(spanName(fields as Span));
const NAME_TEXT = {
  held: nameText({ family: 'gil', state: 'hold' }),
  handoff: nameText({ family: 'gil', state: 'handoff' }),
  wait: nameText({ family: 'gil', state: 'wait' }),
  running: nameText({ family: 'sched', state: 'running' }),
  runnable: nameText({ family: 'sched', state: 'runnable' }),
  sleeping: nameText({ family: 'sched', state: 'sleeping' }),
  sleepingGil: nameText({ family: 'sched', state: 'sleeping', gil: true }),
  blocked: nameText({ family: 'sched', state: 'blocked' }),
  blockedGil: nameText({ family: 'sched', state: 'blocked', gil: true }),
};

/** An async track: the text of its `b` and `e` events up to the ts, and the earliest ts drawn on it. */
interface Track {
  pid: number;
  first: number;
  b: string;
  e: string;
}

/**
 * Turns gil-state records into trace events: text emitted after each record
 * that made some, the rest (counters still waiting, names, and in JSON form
 * the end of the object) at `end`.
 */
export class ToTrace implements Filter<AnyRecord> {
  private readonly counts: Omit<ToTraceStats, 'lateCounters'> = { records: 0, spans: 0, noPid: 0, gilSource: undefined };
  private readonly text: TraceText;
  private readonly time: TimeWindow;
  private readonly counters: GilCounters | undefined;
  private readonly tracks: Record<Family, Map<number, Track>> = { gil: new Map(), sched: new Map() };
  /** tid -> pid as drawn, so metadata lands on the same process as the spans. */
  private readonly pidOfTid = new Map<number, number>();
  private readonly threads = new Map<number, { pid: number; comm: string; main: boolean }>();
  /**
   * Per capture, where each thread's latest span of a family ended, and each
   * process's latest handoff: gil-state writes them in that order (a span of
   * a thread never begins before its span before it of the family ended), so
   * one that does is a record given twice or out of order, and drawing it
   * would put two states on one track and count a waiter twice.
   */
  private readonly ends: Record<Family, Map<number, number>> = { gil: new Map(), sched: new Map() };
  private readonly handoffs = new HandoffOrder();
  private readonly processes = new Map<number, string>();
  private readonly order: ProcessOrder;
  private folded: Folded | undefined;
  private flowId = 0;
  private readonly captures = new CaptureIds();
  private ended = false;
  private closed = false;

  constructor(
    private readonly emit: Emit<string>,
    private readonly ctx: Context,
    private readonly opts: ToTraceOptions = DEFAULTS,
  ) {
    this.text = new TraceText(opts.format, opts.version);
    this.time = new TimeWindow(opts.from, opts.to);
    this.counters = opts.counters ? new GilCounters(this.text, this.time) : undefined;
    this.order = new ProcessOrder((text) => this.text.ev(text));
  }

  get stats(): ToTraceStats {
    return { ...this.counts, lateCounters: this.counters?.late ?? 0 };
  }

  /** What to tell the user once the input is read; `unusable`: records the driver skipped. */
  notes(unusable = 0): string[] {
    const s = this.stats;
    const notes: string[] = [];
    if (s.spans === 0 && s.records > 0 && unusable === 0) notes.push('no span records in the input: is it gil-state output? (perf-parse | gil-state | to-trace)');
    if (s.noPid > 0) notes.push(`${s.noPid} spans had no pid: each such thread is drawn as a process of its own`);
    if (s.gilSource === 'none') notes.push('no GIL events in the input: only scheduler states are drawn; nothing here says who held the GIL');
    if (this.folded !== undefined) {
      const n = this.folded.pids.size;
      notes.push(`${n} short process${n === 1 ? '' : 'es'} without GIL events (under 1 s each) folded into one process row, pid ${this.folded.pid}`);
    }
    if (s.lateCounters > 0) {
      notes.push(`${s.lateCounters} GIL waits/holds began before the counters written so far: the counters miss them up to that point`);
    }
    return notes;
  }

  write(rec: AnyRecord): void {
    this.counts.records++;
    switch (rec.type) {
      case 'span':
        this.span(rec);
        break;
      case 'handoff':
        this.handoff(rec);
        break;
      case 'diagnostic':
        this.diagnostic(rec);
        break;
      case 'thread':
        this.thread(rec);
        break;
      case 'process':
        this.process(rec);
        break;
      case 'capture':
        this.capture(rec);
        break;
      default:
      // Pass-through records of earlier stages (and users' own) are not part of a trace.
    }
    if (this.text.length > 0) this.emit(this.text.take());
  }

  /**
   * Ends the trace: the counters still waiting (the last two seconds of
   * changes, megabytes of them at a high event rate), in parts, then the
   * names and the closing of the object (more()).
   */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.more();
  }

  /** The next part of the trace's end: a piece of counters, or the names and the close. */
  more(): boolean {
    if (!this.ended || this.closed) return false;
    const counters = this.counters;
    if (counters !== undefined && counters.pending > 0) {
      counters.flush(true, PIECE);
      this.emit(this.text.take());
      return true;
    }
    this.closed = true;
    const { folded, ranked } = this.order.finish();
    this.folded = folded;
    this.names(folded, ranked);
    this.text.close();
    if (this.text.length > 0) this.emit(this.text.take());
    return true;
  }

  /**
   * Process and thread names, and the order the viewers list them in
   * (process_sort_index, thread_sort_index: Catapult sorts by them; the
   * main thread first, then threads by tid).
   */
  private names(folded: Folded | undefined, ranked: number[]): void {
    const M = (pid: number, tid: number, what: string, args: string): void =>
      this.text.ev(`{"ph":"M","pid":${pid},"tid":${tid},"name":"${what}","args":{${args}}}`);
    const rank = new Map(ranked.map((pid, i) => [pid, i]));
    for (const [pid, comm] of this.processes) {
      if (!this.wanted(pid) || folded?.pids.has(pid)) continue;
      M(pid, pid, 'process_name', `"name":${JSON.stringify(comm)}`);
    }
    if (folded !== undefined) {
      const n = folded.pids.size;
      M(folded.pid, folded.pid, 'process_name', `"name":${JSON.stringify(`${n} short process${n === 1 ? '' : 'es'} without GIL events`)}`);
    }
    for (const pid of new Set([...ranked, ...this.processes.keys()])) {
      if (!this.wanted(pid) || (folded?.pids.has(pid) && pid !== folded.pid)) continue;
      M(pid, pid, 'process_sort_index', `"sort_index":${pid === folded?.pid ? ranked.length : (rank.get(pid) ?? ranked.length - 1)}`);
    }
    const threads = [...this.threads].sort((a, b) => Number(b[1].main) - Number(a[1].main) || a[0] - b[0]);
    threads.forEach(([tid, t], i) => {
      if (!this.wanted(t.pid)) return;
      const inGroup = folded?.pids.has(t.pid) === true;
      const pid = inGroup ? folded!.pid : t.pid;
      // In the folded group a row says whose it is: its process's pid.
      const name = inGroup ? `${t.comm} (pid ${t.pid})` : t.main ? `${t.comm} (main thread)` : t.comm;
      M(pid, tid, 'thread_name', `"name":${JSON.stringify(name)}`);
      M(pid, tid, 'thread_sort_index', `"sort_index":${i}`);
    });
  }

  private pidFor(pid: number | null | undefined, tid: number): number {
    if (pid != null && pid >= 0) {
      this.pidOfTid.set(tid, pid);
      return pid;
    }
    // No pid: the thread stands for its own process (and says so on stderr).
    return this.pidOfTid.get(tid) ?? tid;
  }

  private wanted(pid: number): boolean {
    return this.opts.pids === undefined || this.opts.pids.has(pid);
  }

  private span(rec: Span): void {
    const { tid, ts, dur, family } = rec;
    this.counts.spans++;
    if (rec.pid === null) this.counts.noPid++;
    const pid = this.pidFor(rec.pid, tid);
    if (!this.wanted(pid)) return;
    const end = ts + dur;
    const ends = this.ends[family];
    const last = ends.get(tid);
    if (last !== undefined && ts < last) {
      return this.ctx.malformed(`a ${family} ${rec.state} span of thread ${tid} at ${ts} that begins before its span before it ended, at ${last} (a record given twice, or out of order?): not drawn`);
    }
    ends.set(tid, end);
    if (family === 'gil') this.order.gil(pid, rec.state === 'wait' ? dur : 0);
    const counters = this.counters;
    if (counters !== undefined) {
      counters.seen(end);
      if (rec.family === 'gil' && rec.state !== 'handoff') counters.count(pid, tid, rec.state, ts, end);
    }
    if (this.opts.families.has(family) && dur >= this.opts.minDur) {
      const c = this.time.clip(ts, end);
      if (c !== undefined) this.drawSpan(pid, rec, c[0], c[1], c[0] !== ts || c[1] !== end);
    }
    if (counters !== undefined) {
      // After a gap in the input every change in the window is final at
      // once, megabytes of counters: they go out a piece at a time, so that
      // they are never one string of that size on the heap.
      counters.flush(false, PIECE);
      while (this.text.length >= PIECE) {
        this.emit(this.text.take());
        counters.flush(false, PIECE);
      }
    }
  }

  private drawSpan(pid: number, rec: Span, ts: number, end: number, clipped: boolean): void {
    const { tid, family } = rec;
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
      this.order.event(pid, at, at, `{"ph":"n","cat":"${family}","id":${tid},"pid":${pid},"tid":${tid},"ts":${usText(at)},"name":"${family === 'gil' ? 'GIL' : 'sched'} ${tid}"}`);
    }
    let args = '';
    // The name says S or D already; R or R+ (preempted) it does not.
    if (rec.family === 'sched' && rec.letter !== undefined && rec.state !== 'sleeping' && rec.state !== 'blocked') {
      args += `,"letter":${JSON.stringify(rec.letter)}`;
    }
    if (rec.partial === true) args += ',"partial":true';
    if (rec.truncated === true) args += ',"truncated":true';
    if (rec.unknown === true) args += ',"unknown":true';
    if (clipped) args += ',"clipped":true';
    const nameText = spanNameText(rec);
    this.order.event(pid, ts, end, `${tr.b}${usText(ts)},"name":${nameText}${args ? `,"args":{${args.slice(1)}}` : ''}}`);
    this.order.event(pid, ts, end, `${tr.e}${usText(end)},"name":${nameText}}`);
    if (this.opts.diagnostics && (rec.partial === true || rec.truncated === true || rec.unknown === true)) {
      // Gaps in the data show on the thread's own track, where the eye is.
      const name = spanName(rec);
      if (rec.partial === true) this.instant(pid, tid, ts, `partial: ${name}`, 'the start of this state was not recorded', 't');
      if (rec.truncated === true) this.instant(pid, tid, end, `truncated: ${name}`, 'still open at the end of the recording', 't');
      if (rec.unknown === true) this.instant(pid, tid, end, `unknown: ${name}`, 'closed early: events were lost or came in an impossible order', 't');
    }
  }

  private instant(pid: number | undefined, tid: number | undefined, ts: number, name: string, message: string, scope: 't' | 'p' | 'g'): void {
    if (!this.time.contains(ts)) return;
    // Global instants belong to no process; pid 0 keeps every pid a number.
    const where = `"pid":${pid ?? 0},"tid":${tid ?? pid ?? 0},`;
    const text = `{"ph":"i","cat":"gilpipe","s":"${scope}",${where}"ts":${usText(ts)},"name":${JSON.stringify(name)},"args":{"message":${JSON.stringify(message)}}}`;
    if (pid === undefined) this.text.ev(text);
    else this.order.event(pid, ts, ts, text);
  }

  private handoff(rec: Handoff): void {
    const refused = this.handoffs.refuse(rec);
    if (refused !== undefined) return this.ctx.malformed(`${refused}: not drawn`);
    if (!this.opts.flows) return;
    const { ts, from_tid: fromTid, to_tid: toTid, released_ts: releasedTs } = rec;
    // The first take of a process has nobody to hand over from: no arrow.
    if (fromTid === null || releasedTs === undefined) return;
    const pid = this.pidFor(rec.pid, toTid);
    if (!this.wanted(pid) || !this.time.contains(releasedTs) || !this.time.contains(ts)) return;
    const fromPid = this.pidOfTid.get(fromTid) ?? pid;
    this.order.gil(pid);
    this.order.gil(fromPid);
    const id = ++this.flowId;
    const gap = rec.gap ?? ts - releasedTs;
    // Producer first: Catapult pairs flow ends in (ts, file order).
    this.text.ev(
      `{"ph":"X","cat":"gil","pid":${fromPid},"tid":${fromTid},"ts":${usText(releasedTs)},"dur":0,"name":"GIL released","bind_id":${id},"flow_out":true,"args":{"to_tid":${toTid}}}`,
    );
    let args = `"from_tid":${fromTid},"gap_us":${usText(gap)}`;
    if (rec.waker_tid !== undefined) args += `,"waker_tid":${rec.waker_tid}`;
    this.text.ev(`{"ph":"X","cat":"gil","pid":${pid},"tid":${toTid},"ts":${usText(ts)},"dur":0,"name":"GIL taken","bind_id":${id},"flow_in":true,"args":{${args}}}`);
  }

  private diagnostic(rec: Diagnostic): void {
    if (!this.opts.diagnostics) return;
    const { ts, code, message, tid } = rec;
    const pid = tid !== undefined ? this.pidFor(rec.pid, tid) : (rec.pid ?? undefined);
    if (pid !== undefined && !this.wanted(pid)) return;
    if (tid !== undefined) this.instant(pid, tid, ts, code, message, 't');
    else if (pid !== undefined) this.instant(pid, pid, ts, code, message, 'p');
    else this.instant(undefined, undefined, ts, code, message, 'g');
  }

  private thread(rec: ThreadInfo): void {
    const pid = this.pidFor(rec.pid, rec.tid);
    const comm = rec.comm.length > 0 ? rec.comm : String(rec.tid);
    this.threads.set(rec.tid, { pid, comm, main: rec.main || rec.tid === pid });
    if (this.wanted(pid)) this.order.lived(pid, rec.first_ts, rec.last_ts);
  }

  private process(rec: ProcessInfo): void {
    if (rec.pid !== null && rec.comm.length > 0) this.processes.set(rec.pid, rec.comm);
  }

  /** An input ended: the next is another capture, on a clock of its own. */
  endInput(): void {
    this.newCapture();
  }

  private newCapture(): void {
    this.ends.gil.clear();
    this.ends.sched.clear();
    this.handoffs.clear();
  }

  private capture(rec: Capture): void {
    this.newCapture();
    this.captures.add(rec.id, this.ctx.where);
    this.counts.gilSource = rec.gil_source;
    if (rec.gil_source === 'none' && this.opts.diagnostics && rec.first_ts !== null && rec.first_ts >= 0) {
      this.instant(undefined, undefined, rec.first_ts, 'no GIL events', 'no take_gil/drop_gil probe events in the recording: only scheduler states are drawn, nothing here says who held the GIL', 'g');
    }
  }
}
