// The record contract between the stages: what each NDJSON line is.
//
// Every record a stage reads or writes is one of the types below. A record
// is narrowed once, where its line is parsed (`narrow`), against RULES, the
// same required fields and kinds as docs/events.schema.json (a test holds the
// two together); past that point no stage checks or casts a record again.
// Records of a type no stage knows (an earlier tool's, a user's own) travel as
// `Foreign`, a wrapper that keeps them whole and in order.
import { MAX_TIME } from '../lib/max-time.js';
import type { Frame } from '../lib/perf-grammar.js';

export type { Frame };

// ------------------------------------------------------------ perf-parse's records

// Declared in lib/ (the perf.data reader makes them too), part of the contract here.
import type { Fields, Sample, Comm, Fork, Exit, Lost, PerfRecord, Header, PerfMessage, PerfParseRecord } from '../lib/perf-records.js';
export type { Fields, Sample, Comm, Fork, Exit, Lost, PerfRecord, Header, PerfMessage, PerfParseRecord };

// ------------------------------------------------------------ gil-state's records

export type GilState = 'wait' | 'hold' | 'handoff';
export type SchedState = 'running' | 'runnable' | 'sleeping' | 'blocked' | 'other';
/** Where gil-state's GIL spans came from: probes, the libc fallback, switch-out stacks, or nowhere. */
export type GilSource = 'take_gil' | 'cond_timedwait' | 'stack' | 'none';
export type DiagnosticCode = 'return_without_entry' | 'repeated_event' | 'impossible_sequence' | 'lost_events' | 'no_pid' | 'two_holders' | 'time_backwards';

interface SpanBase {
  type: 'span';
  /** null: the thread's process is not known (no pid column, no task records). */
  pid: number | null;
  tid: number;
  ts: number;
  dur: number;
  /** The start was not recorded: the span begins at the first known boundary. */
  partial?: true;
  /** Still open when the input ended. */
  truncated?: true;
  /** Closed early by lost events or an impossible sequence: its real end is unknown. */
  unknown?: true;
}

export interface GilSpan extends SpanBase {
  family: 'gil';
  state: GilState;
  via?: Exclude<GilSource, 'none'>;
  /** cond_timedwait fallback: the return address, telling call sites apart. */
  site?: string;
  /**
   * Where the span began, leaf first (filters/frames.ts names the frames),
   * when callchains were recorded on the probes: a wait's at take_gil's
   * entry, a hold's at take_gil's return.
   */
  stack?: string[];
  /** A hold: the user-space stack its own events showed most during it (where it spent the hold), and how many did. */
  sampled_stack?: string[];
  samples?: number;
}

export interface SchedSpan extends SpanBase {
  family: 'sched';
  state: SchedState;
  /** prev_state as perf printed it (R, R+, S, D, ...). */
  letter?: string;
  /** A sleep that began while waiting for the GIL: S(GIL). */
  gil?: true;
  /** Not running: the stack it was switched out with, leaf first (the kernel's frames say what it blocked in). */
  stack?: string[];
  /** Runnable because preempted: the task sched_switch put on its CPU (`next_comm`, `next_pid`). */
  preempted_by?: { tid: number; comm: string };
}

export type Span = GilSpan | SchedSpan;

/** The GIL passed from one thread to another. */
export interface Handoff {
  type: 'handoff';
  pid: number | null;
  ts: number;
  from_tid: number | null;
  to_tid: number;
  released_ts?: number;
  gap?: number;
  waker_tid?: number;
  woken_ts?: number;
}

export interface ThreadInfo {
  type: 'thread';
  pid: number | null;
  tid: number;
  comm: string;
  main: boolean;
  first_ts: number | null;
  last_ts: number | null;
}

export interface ProcessInfo {
  type: 'process';
  pid: number | null;
  comm: string;
  threads: number;
  gil: boolean;
  /**
   * recorded: every thread's pid was in the input; inferred: threads were
   * grouped by fork records, which cannot tell a thread from a process.
   */
  pids?: 'recorded' | 'inferred';
  /** Times one of its threads took the GIL while another held it. */
  two_holders?: number;
}

/** One per gil-state run, last: what the capture held. */
export interface Capture {
  type: 'capture';
  first_ts: number | null;
  last_ts: number | null;
  gil_source: GilSource;
  lost: number;
  anomalies: number;
  /** What identifies the recording: a hash of its first events (the same capture under any name). */
  id?: string;
  /** The machine it was recorded on: `# hostname` of perf's header (`perf script --header`). */
  host?: string;
  /** `# captured on` of perf's header: the perf.data file's modification time, in the recording host's local time. */
  captured_on?: string;
}

export interface Diagnostic {
  type: 'diagnostic';
  code: DiagnosticCode;
  ts: number;
  pid?: number | null;
  tid?: number;
  message: string;
}

export type GilStateRecord = Span | Handoff | ThreadInfo | ProcessInfo | Capture | Diagnostic;

// ------------------------------------------------------------ everything else

/** A record of a type no stage knows, kept whole: serialised as `record`. */
export interface Foreign {
  type: 'foreign';
  record: { type: string; [key: string]: unknown };
}

/** Whatever can travel between two stages. */
export type AnyRecord = PerfParseRecord | GilStateRecord | Foreign;

export function foreign(record: { type: string; [key: string]: unknown }): Foreign {
  return { type: 'foreign', record };
}

// ------------------------------------------------------------ narrowing

/**
 * A field's kind: `int` an integer (a perf clock never goes below zero, so
 * times are `uint`), `int?`/`uint?` the same or null, `string`, `bool`,
 * `object`, `array`, `true` (the constant, for flags), or a list of allowed
 * strings.
 */
export type Kind = 'int' | 'uint' | 'int?' | 'uint?' | 'string' | 'bool' | 'object' | 'array' | 'string[]' | 'task' | 'true' | readonly string[];

export interface Rule {
  required: Record<string, Kind>;
  /** Optional fields checked when present. */
  optional: Record<string, Kind>;
}

const GIL_STATES = ['wait', 'hold', 'handoff'] as const;
const SCHED_STATES = ['running', 'runnable', 'sleeping', 'blocked', 'other'] as const;
const DIAGNOSTIC_CODES = ['return_without_entry', 'repeated_event', 'impossible_sequence', 'lost_events', 'no_pid', 'two_holders', 'time_backwards'] as const;

/** The contract, field by field: docs/events.schema.json says the same (test/unit/records.test.ts). */
export const RULES: Record<Exclude<AnyRecord['type'], 'foreign'>, Rule> = {
  sample: {
    required: { ts: 'uint', event: 'string' },
    optional: { comm: 'string', pid: 'int', tid: 'int', cpu: 'int', period: 'int', misc: 'string', tod: 'string', fields: 'object', probe: 'object', payload: 'string', ip: 'object', addr: 'object', callchain: 'array' },
  },
  comm: { required: { ts: 'uint', pid: 'int', tid: 'int', comm: 'string', exec: 'bool' }, optional: { cpu: 'int' } },
  fork: { required: { ts: 'uint', pid: 'int', tid: 'int', ppid: 'int', ptid: 'int' }, optional: { cpu: 'int' } },
  exit: { required: { ts: 'uint', pid: 'int', tid: 'int', ppid: 'int', ptid: 'int' }, optional: { cpu: 'int' } },
  lost: { required: { ts: 'uint', lost: 'uint' }, optional: { cpu: 'int' } },
  perf_record: { required: { ts: 'uint', name: 'string', body: 'string' }, optional: { cpu: 'int', pid: 'int', tid: 'int' } },
  header: { required: { meta: 'object', events: 'array' }, optional: {} },
  perf_message: { required: { text: 'string' }, optional: { lost_chunks: 'int' } },
  span: {
    required: { pid: 'int?', tid: 'int', family: ['gil', 'sched'], state: [...GIL_STATES, ...SCHED_STATES], ts: 'uint', dur: 'uint' },
    optional: {
      letter: 'string',
      gil: 'true',
      via: ['take_gil', 'cond_timedwait', 'stack'],
      site: 'string',
      partial: 'true',
      truncated: 'true',
      unknown: 'true',
      stack: 'string[]',
      sampled_stack: 'string[]',
      samples: 'uint',
      preempted_by: 'task',
    },
  },
  handoff: {
    required: { pid: 'int?', ts: 'uint', from_tid: 'int?', to_tid: 'int' },
    optional: { released_ts: 'uint', gap: 'int', waker_tid: 'int', woken_ts: 'uint' },
  },
  thread: { required: { pid: 'int?', tid: 'int', comm: 'string', main: 'bool', first_ts: 'int?', last_ts: 'int?' }, optional: {} },
  process: { required: { pid: 'int?', comm: 'string', threads: 'int', gil: 'bool' }, optional: { pids: ['recorded', 'inferred'], two_holders: 'uint' } },
  capture: {
    required: { first_ts: 'int?', last_ts: 'int?', gil_source: ['take_gil', 'cond_timedwait', 'stack', 'none'], lost: 'int', anomalies: 'int' },
    optional: { id: 'string', host: 'string', captured_on: 'string' },
  },
  diagnostic: { required: { code: DIAGNOSTIC_CODES, ts: 'uint', message: 'string' }, optional: { pid: 'int?', tid: 'int' } },
};


function isInt(v: unknown): v is number {
  return Number.isInteger(v) && Math.abs(v as number) <= MAX_TIME;
}

function isKind(v: unknown, kind: Kind): boolean {
  switch (kind) {
    case 'int':
      return isInt(v);
    case 'uint':
      return isInt(v) && v >= 0;
    case 'int?':
      return v === null || isInt(v);
    case 'uint?':
      return v === null || (isInt(v) && v >= 0);
    case 'string':
      return typeof v === 'string';
    case 'bool':
      return typeof v === 'boolean';
    case 'object':
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'task':
      return v !== null && typeof v === 'object' && isInt((v as { tid?: unknown }).tid) && typeof (v as { comm?: unknown }).comm === 'string';
    case 'true':
      return v === true;
    default:
      return typeof v === 'string' && kind.includes(v);
  }
}

function describe(kind: Kind): string {
  if (typeof kind !== 'string') return `one of ${kind.join(', ')}`;
  const words: Record<string, string> = {
    int: 'an integer',
    uint: 'an integer >= 0',
    'int?': 'an integer or null',
    'uint?': 'an integer >= 0 or null',
    string: 'a string',
    bool: 'true or false',
    object: 'an object',
    array: 'an array',
    'string[]': 'an array of strings',
    task: 'an object with an integer tid and a string comm',
    true: 'true',
  };
  return words[kind]!;
}

/** RULES as lists, made once per type: narrow runs for every record a stage reads. */
const COMPILED = new Map<string, { required: Array<[string, Kind]>; optional: Map<string, Kind> }>();
function compiled(type: keyof typeof RULES): { required: Array<[string, Kind]>; optional: Map<string, Kind> } {
  let c = COMPILED.get(type);
  if (c === undefined) {
    const rule = RULES[type];
    c = { required: Object.entries(rule.required) as Array<[string, Kind]>, optional: new Map(Object.entries(rule.optional ?? {}) as Array<[string, Kind]>) };
    COMPILED.set(type, c);
  }
  return c;
}

/** The test of one kind as a JavaScript expression over `v`, for checks(). */
function kindTest(kind: Kind): string {
  const int = `(typeof v === 'number' && Number.isInteger(v) && Math.abs(v) <= ${MAX_TIME})`;
  switch (kind) {
    case 'int':
      return int;
    case 'uint':
      return `(${int} && v >= 0)`;
    case 'int?':
      return `(v === null || ${int})`;
    case 'uint?':
      return `(v === null || (${int} && v >= 0))`;
    case 'string':
      return `typeof v === 'string'`;
    case 'bool':
      return `typeof v === 'boolean'`;
    case 'object':
      return `(v !== null && typeof v === 'object' && !Array.isArray(v))`;
    case 'true':
      return `v === true`;
    default:
      // Lists of strings, and the kinds with loops in them: isKind's own code.
      return `isKind(v, ${JSON.stringify(kind)})`;
  }
}

/**
 * Whether a record of one type keeps its rule, as one function of straight
 * tests: each field read by name, so each read is one the engine learns the
 * shape of. JSON.parse gives the records of a type the same few shapes, and
 * narrow runs for every record a stage reads (a loop over the keys cost as
 * much as gil-state's own work). Made from RULES, which hold no input.
 */
function checks(type: string, rule: Rule): (o: Record<string, unknown>) => boolean {
  const lines: string[] = [];
  for (const [k, kind] of Object.entries(rule.required)) lines.push(`v = o.${k}; if (!(${kindTest(kind)})) return false;`);
  for (const [k, kind] of Object.entries(rule.optional)) lines.push(`v = o.${k}; if (v !== undefined && !(${kindTest(kind)})) return false;`);
  // A span's state belongs to its family.
  if (type === 'span') lines.push(`if ((o.family === 'gil') !== (${GIL_STATES.map((g) => `o.state === ${JSON.stringify(g)}`).join(' || ')})) return false;`);
  try {
    const make = new Function('isKind', `return function check(o) { let v; ${lines.join(' ')} return true; };`) as (k: typeof isKind) => (o: Record<string, unknown>) => boolean;
    return make(isKind);
  } catch {
    // node --disallow-code-generation-from-strings: every record is read field by field.
    return () => false;
  }
}

/** Each type's quick test, made once: a type not here is no stage's own (Foreign). */
const CHECKS = new Map(Object.entries(RULES).map(([type, rule]) => [type, checks(type, rule)]));

/** narrow's quick test for a type, for the test that holds it to narrowByFields. */
export function quickCheck(type: keyof typeof RULES): (o: Record<string, unknown>) => boolean {
  return CHECKS.get(type)!;
}

/**
 * A parsed JSON value as a record, or why it is not one. Records of a known
 * type must have its required fields with the right kinds (and optional
 * fields, when present, too); the family and state of a span must go
 * together. Other objects with a string `type` are Foreign.
 */
export function narrow(v: unknown): AnyRecord | string {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a record (an object with a "type")';
  const o = v as { type?: unknown; [key: string]: unknown };
  const type = o.type;
  if (typeof type !== 'string' || type === '') return 'not a record (an object with a "type")';
  const check = CHECKS.get(type);
  if (check === undefined) return foreign(o as Foreign['record']);
  // A record that keeps its rule is done; one that does not is read again below, field by field, for the reason.
  if (check(o)) return o as unknown as AnyRecord;
  return narrowByFields(o, type as keyof typeof RULES);
}

/**
 * narrow's verdict for a record of a known type, field by field: why it
 * breaks its rule (the first field; optional ones in the record's own order),
 * or the record. What narrow's quick test must agree with (test/unit/records.test.ts).
 */
export function narrowByFields(o: { type?: unknown; [key: string]: unknown }, type: keyof typeof RULES): AnyRecord | string {
  const rule = compiled(type);
  for (const [k, kind] of rule.required) {
    if (!isKind(o[k], kind)) return `${type} record: "${k}" ${o[k] === undefined ? 'is missing' : 'is not'} ${describe(kind)}`;
  }
  // The optional fields a record has, not every one its type allows: most are absent.
  for (const k in o) {
    const kind = rule.optional.get(k);
    if (kind === undefined) continue;
    const x = o[k];
    if (x !== undefined && !isKind(x, kind)) return `${type} record: "${k}" is not ${describe(kind)}`;
  }
  if (type === 'span') {
    const gil = (GIL_STATES as readonly unknown[]).includes(o.state);
    if ((o.family === 'gil') !== gil) return `span record: state "${String(o.state)}" does not belong to family "${String(o.family)}"`;
  }
  // The one cast of the contract: every field the type promises was checked above.
  return o as unknown as AnyRecord;
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

/**
 * An integer as String writes it. Past 2^31 (a perf time in ns, past 2 s of
 * uptime) V8 writes a number by its slow path for doubles, 220 ns a time
 * here; as two parts below 2^31 it takes half that.
 */
export function intText(v: number): string {
  if (v >= 1e9 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v)) {
    // The quotient can round up to the next integer (v = 1999999999999999); the products and differences are exact.
    let hi = Math.floor(v / 1e9);
    let lo = v - hi * 1e9;
    if (lo < 0) (hi -= 1), (lo += 1e9);
    return hi + (1e9 + lo).toString().slice(1);
  }
  return String(v);
}

/**
 * A string as JSON, for the few that repeat in every record (comm, event
 * and perf record names, to-trace's span and thread names): a lookup by a
 * string whose hash is known costs less than quoting it again. Bounded: a
 * capture of many names starts over.
 */
const QUOTED = new Map<string, string>();
export function quoted(v: string): string {
  let j = QUOTED.get(v);
  if (j === undefined) {
    if (QUOTED.size >= 4096) QUOTED.clear();
    j = q(v);
    QUOTED.set(v, j);
  }
  return j;
}

/**
 * The JSON of a payload the text path shares, frozen, among the records of
 * lines that end alike (lib/perf-grammar.ts): written once. Others (the
 * perf.data reader's, made per record) are written each time.
 */
const PAYLOAD_JSON = new WeakMap<object, string>();
function payloadJson(o: Record<string, unknown>): string {
  if (!Object.isFrozen(o)) return flatJson(o);
  let j = PAYLOAD_JSON.get(o);
  if (j === undefined) PAYLOAD_JSON.set(o, (j = flatJson(o)));
  return j;
}

export function sampleJson(r: Sample): string {
  let s = '{"type":"sample","ts":' + intText(r.ts);
  if (r.comm !== undefined) s += ',"comm":' + quoted(r.comm);
  if (r.pid !== undefined) s += ',"pid":' + r.pid;
  if (r.tid !== undefined) s += ',"tid":' + r.tid;
  if (r.cpu !== undefined) s += ',"cpu":' + r.cpu;
  if (r.period !== undefined) s += ',"period":' + r.period;
  if (r.misc !== undefined) s += ',"misc":' + q(r.misc);
  if (r.tod !== undefined) s += ',"tod":' + q(r.tod);
  s += ',"event":' + quoted(r.event);
  if (r.fields !== undefined) s += ',"fields":' + payloadJson(r.fields);
  if (r.probe !== undefined) s += r.probe.ret === undefined ? ',"probe":{"func":"' + r.probe.func + '"}' : ',"probe":{"func":"' + r.probe.func + '","ret":"' + r.probe.ret + '"}';
  if (r.payload !== undefined) s += ',"payload":' + q(r.payload);
  if (r.addr !== undefined) s += ',"addr":' + q(r.addr);
  if (r.ip !== undefined) s += ',"ip":' + q(r.ip);
  if (r.callchain !== undefined) s += ',"callchain":' + q(r.callchain);
  return s + '}';
}

/**
 * A span as JSON.stringify writes it (the same keys in the same order: gil-state
 * makes every span starting with these seven), about twice as fast: spans are
 * most of gil-state's output.
 */
export function spanJson(r: Span): string {
  let s = '{"type":"span","pid":' + r.pid + ',"tid":' + r.tid + ',"family":"' + r.family + '","state":"' + r.state + '","ts":' + intText(r.ts) + ',"dur":' + intText(r.dur);
  for (const k in r) {
    if (k === 'type' || k === 'pid' || k === 'tid' || k === 'family' || k === 'state' || k === 'ts' || k === 'dur') continue;
    const v = (r as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue;
    s += ',' + q(k) + ':' + (typeof v === 'number' ? String(v) : v === true ? 'true' : typeof v === 'string' ? q(v) : JSON.stringify(v));
  }
  return s + '}';
}

/**
 * A perf record (a third of perf-parse's output with --switch-events) with
 * its keys in the order both readers make them; one with other keys as
 * JSON.stringify writes it.
 */
export function perfRecordJson(r: PerfRecord): string {
  let s = '{"type":"perf_record","ts":' + intText(r.ts);
  let n = 4;
  if (r.cpu !== undefined) (s += ',"cpu":' + r.cpu), n++;
  s += ',"name":' + quoted(r.name) + ',"body":' + q(r.body);
  if (r.tid !== undefined) (s += ',"tid":' + r.tid), n++;
  if (r.pid !== undefined) (s += ',"pid":' + r.pid), n++;
  return Object.keys(r).length === n ? s + '}' : JSON.stringify(r);
}

/** One record as a line of JSON (without the newline). */
export function recordJson(rec: AnyRecord): string {
  switch (rec.type) {
    case 'sample':
      return sampleJson(rec);
    case 'span':
      return spanJson(rec);
    case 'perf_record':
      return perfRecordJson(rec);
    case 'foreign':
      return JSON.stringify(rec.record);
    default:
      return JSON.stringify(rec);
  }
}
