// HEADER_TRACING_DATA: the tracepoint format descriptions perf copies from
// tracefs into a recording, and the payload text they describe. perf script
// prints a tracepoint's payload with libtraceevent, which evaluates the
// format's `print fmt` (a printf format and C expressions over the raw
// fields); this file does the same for the subset of C the kernel's formats
// use (fields, literals, arithmetic and bit operators, ?:, casts,
// __print_flags, __print_symbolic, __get_str), so the text comes out as perf
// printed it and is read by the same payload reader as perf script's text.
import { ByteOrder } from './bytes.js';
import { utf8 } from '../perf-grammar.js';
import type { Payload } from '../perf-payload.js';
import type { Fields } from '../perf-records.js';
import { PairMemo } from '../pair-memo.js';

export interface Field {
  name: string;
  offset: number;
  size: number;
  signed: boolean;
  /** `char name[16]`: printed as a string up to its NUL. */
  chars: boolean;
  /** `__data_loc char[] name` (and `__rel_loc`): a u32 giving offset and length of a string elsewhere in the record. */
  loc?: 'data' | 'rel';
}

export interface Format {
  id: number;
  system: string;
  name: string;
  fields: Map<string, Field>;
  /** Bytes the fields need: raw data shorter than this is not of this format. */
  size: number;
  /** The payload text from a raw record, as libtraceevent prints it. */
  print: (raw: Buffer, order: ByteOrder) => string;
  /**
   * The payload as perf-parse reads that text, built from the fields
   * without printing and reading it back: for the events every GIL
   * capture is made of (uprobes, sched_switch, the wakeups), whose formats
   * are known word for word. Undefined for every other format.
   */
  payload?: (b: Buffer, at: number, len: number, order: ByteOrder, into: Payload) => void;
}

/** Cut tracing data: what is missing is named. */
export class TracingDataError extends Error {}

/** Reads the tracing data (trace-event-read.c's layout) into formats by tracepoint id. */
export function parseTracingData(buf: Buffer): Map<number, Format> {
  let p = 0;
  const need = (n: number, what: string): void => {
    if (p + n > buf.length) throw new TracingDataError(`tracing data cut in its ${what}`);
  };
  need(10, 'magic');
  if (buf[0] !== 23 || buf[1] !== 8 || buf[2] !== 68 || buf.toString('latin1', 3, 10) !== 'tracing') {
    throw new TracingDataError('tracing data without its magic');
  }
  p = 10;
  const cstr = (what: string): string => {
    const end = buf.indexOf(0, p);
    if (end === -1) throw new TracingDataError(`tracing data cut in its ${what}`);
    const s = buf.toString('latin1', p, end);
    p = end + 1;
    return s;
  };
  const version = cstr('version');
  need(6, 'byte order');
  const order = new ByteOrder(buf[p] === 0);
  p += 2; // byte order, long size
  p += 4; // page size
  const u32 = (what: string): number => {
    need(4, what);
    const v = order.u32(buf, p);
    p += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8, what);
    const v = order.u64(buf, p);
    p += 8;
    return v;
  };
  const skipSized = (what: string): Buffer => {
    const n = u64(what);
    need(n, what);
    const b = buf.subarray(p, p + n);
    p += n;
    return b;
  };
  need(12, 'header_page');
  p += 12;
  skipSized('header_page');
  need(13, 'header_event');
  p += 13;
  skipSized('header_event');
  const ftrace = u32('ftrace formats');
  for (let i = 0; i < ftrace; i++) skipSized('ftrace formats');
  const formats = new Map<number, Format>();
  const systems = u32('event systems');
  for (let s = 0; s < systems; s++) {
    const system = cstr('event systems');
    const count = u32(`${system} formats`);
    for (let i = 0; i < count; i++) {
      const text = skipSized(`${system} formats`).toString('latin1');
      const f = parseFormat(system, text, order);
      if (f !== undefined) formats.set(f.id, f);
    }
  }
  // kallsyms, ftrace printk formats and (from 0.6) saved cmdlines follow: not needed.
  void version;
  return formats;
}

const FIELD_RE = /^\s*field:(.*?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/;

/** One event's `format` file. */
export function parseFormat(system: string, text: string, order: ByteOrder): Format | undefined {
  const name = /^name: (.*)$/m.exec(text)?.[1]?.trim();
  const id = /^ID: (\d+)$/m.exec(text)?.[1];
  if (name === undefined || id === undefined) return undefined;
  const fields = new Map<string, Field>();
  for (const line of text.split('\n')) {
    const m = FIELD_RE.exec(line);
    if (!m) continue;
    let decl = m[1]!.trim();
    let loc: Field['loc'];
    if (decl.startsWith('__data_loc ')) loc = 'data';
    else if (decl.startsWith('__rel_loc ')) loc = 'rel';
    const array = /\[[^\]]*\]$/.exec(decl);
    if (array) decl = decl.slice(0, array.index).trim();
    const fname = /([A-Za-z_][A-Za-z0-9_]*)$/.exec(decl)?.[1] ?? decl;
    const type = decl.slice(0, decl.length - fname.length);
    const chars = array !== null && /\bchar\b/.test(type) && loc === undefined;
    fields.set(fname, { name: fname, offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1', chars, ...(loc ? { loc } : {}) });
  }
  const pf = /^print fmt: (.*)$/m.exec(text)?.[1] ?? '""';
  let print: Format['print'];
  try {
    print = compilePrintFmt(pf, fields);
  } catch (e) {
    const why = (e as Error).message;
    print = () => `[cannot print ${system}:${name}: ${why}]`;
  }
  void order;
  const payload = direct(system, name, pf, fields);
  let size = 0;
  for (const x of fields.values()) size = Math.max(size, x.offset + x.size);
  return { id: Number(id), system, name, fields, size, print, ...(payload ? { payload } : {}) };
}

const SWITCH_FMT = '"prev_comm=%s prev_pid=%d prev_prio=%d prev_state=%s%s ==> next_comm=%s next_pid=%d next_prio=%d", ';
const WAKE_FMT = '"comm=%s pid=%d prio=%d target_cpu=%03d", REC->comm, REC->pid, REC->prio, REC->target_cpu';

/**
 * The payload builders for formats known word for word (see Format.payload);
 * they give what parsePayload gives for the printed text. They read the
 * record where it lies (`b` from `at`, `len` bytes, at least the format's
 * size): a Buffer made per record for its data was a tenth of the reader's time.
 */
function direct(system: string, name: string, pf: string, fields: Map<string, Field>): Format['payload'] {
  const f = (n: string): Field | undefined => fields.get(n);
  const hex = (x: Field) => (b: Buffer, at: number, order: ByteOrder): string =>
    x.size === 8 ? order.hex64(b, at + x.offset) : order.u32(b, at + x.offset).toString(16);
  if (pf === '"(%lx)", REC->__probe_ip' && f('__probe_ip')) {
    const ip = hex(f('__probe_ip')!);
    const made = new PairMemo<string, string, Probe>();
    return (b, at, _len, order, into) => {
      const func = ip(b, at, order);
      into.probe = made.get(func, '') ?? made.set(func, '', shared({ func }));
    };
  }
  if (pf === '"(%lx <- %lx)", REC->__probe_func, REC->__probe_ret_ip' && f('__probe_func') && f('__probe_ret_ip')) {
    const func = hex(f('__probe_func')!);
    const ret = hex(f('__probe_ret_ip')!);
    const made = new PairMemo<string, string, Probe>();
    return (b, at, _len, order, into) => {
      const fn = func(b, at, order);
      const r = ret(b, at, order);
      into.probe = made.get(fn, r) ?? made.set(fn, r, shared({ func: fn, ret: r }));
    };
  }
  if (system !== 'sched') return undefined;
  const int = (n: string): ((b: Buffer, at: number, order: ByteOrder) => number) | undefined => {
    const x = f(n);
    if (x === undefined || x.chars || x.loc !== undefined) return undefined;
    const o = x.offset;
    if (x.size === 4) return x.signed ? (b, at, order) => order.i32(b, at + o) : (b, at, order) => order.u32(b, at + o);
    if (x.size === 2) return x.signed ? (b, at, order) => order.i16(b, at + o) : (b, at, order) => order.u16(b, at + o);
    if (x.size === 1) return x.signed ? (b, at) => b.readInt8(at + o) : (b, at) => b[at + o]!;
    return undefined;
  };
  const chars = (n: string): ((b: Buffer, at: number) => string) | undefined => {
    const x = f(n);
    if (x === undefined || !x.chars) return undefined;
    return x.size === 16 ? commReader(x.offset) : (b, at) => utf8(readChars(b, at + x.offset, at + x.offset + x.size));
  };
  if (name === 'sched_switch' && pf.startsWith(SWITCH_FMT) && pf.endsWith(', REC->next_comm, REC->next_pid, REC->next_prio')) {
    // prev_state is the two %s of the format, evaluated as libtraceevent does (its letters differ across kernels).
    let print: Format['print'];
    const stateArgs = pf.slice(SWITCH_FMT.length + 'REC->prev_comm, REC->prev_pid, REC->prev_prio, '.length, -', REC->next_comm, REC->next_pid, REC->next_prio'.length);
    try {
      print = compilePrintFmt('"%s%s", ' + stateArgs, fields);
    } catch {
      return undefined;
    }
    let state = (b: Buffer, at: number, len: number, order: ByteOrder): string => print(b.subarray(at, at + len), order);
    const ps = f('prev_state');
    // The letters depend on prev_state alone (in every kernel's format seen): made once per value.
    if (ps !== undefined && !ps.chars && ps.loc === undefined && (ps.size === 8 || ps.size === 4) && !/REC->(?!prev_state\b)/.test(stateArgs)) {
      const letters = new Map<number, string>();
      const slow = state;
      state = (b, at, len, order) => {
        const v = ps.size === 8 ? order.u64(b, at + ps.offset) : order.u32(b, at + ps.offset);
        if (v >= 2 ** 32) return slow(b, at, len, order);
        let text = letters.get(v);
        if (text === undefined) {
          text = slow(b, at, len, order);
          if (letters.size < 4096) letters.set(v, text);
        }
        return text;
      };
    }
    if (!pf.slice(SWITCH_FMT.length).startsWith('REC->prev_comm, REC->prev_pid, REC->prev_prio, ')) return undefined;
    const pc = chars('prev_comm'), pp = int('prev_pid'), pr = int('prev_prio'), nc = chars('next_comm'), np = int('next_pid'), nr = int('next_prio');
    if (!pc || !pp || !pr || !nc || !np || !nr) return undefined;
    const made = new PairMemo<number, number, Fields>();
    return (b, at, len, order, into) => {
      const prev_comm = pc(b, at);
      const prev_pid = pp(b, at, order);
      const prev_prio = pr(b, at, order);
      const prev_state = state(b, at, len, order);
      const next_comm = nc(b, at);
      const next_pid = np(b, at, order);
      const next_prio = nr(b, at, order);
      const x = made.get(prev_pid, next_pid);
      into.fields =
        x !== undefined && x.prev_comm === prev_comm && x.prev_prio === prev_prio && x.prev_state === prev_state && x.next_comm === next_comm && x.next_prio === next_prio
          ? x
          : made.set(prev_pid, next_pid, shared({ prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, next_prio }));
    };
  }
  if ((name === 'sched_waking' || name === 'sched_wakeup' || name === 'sched_wakeup_new') && pf === WAKE_FMT) {
    const c = chars('comm'), p = int('pid'), pr = int('prio'), cpu = int('target_cpu');
    if (!c || !p || !pr || !cpu) return undefined;
    const made = new PairMemo<number, number, Fields>();
    return (b, at, _len, order, into) => {
      const comm = c(b, at);
      const pid = p(b, at, order);
      const prio = pr(b, at, order);
      const target_cpu = cpu(b, at, order);
      const x = made.get(pid, target_cpu);
      into.fields = x !== undefined && x.comm === comm && x.prio === prio ? x : made.set(pid, target_cpu, shared({ comm, pid, prio, target_cpu }));
    };
  }
  return undefined;
}

type Probe = { func: string; ret?: string };

/**
 * A payload for the records of a format with the same values: the same
 * switch between the same two threads, the same probe address, over and
 * over. A record gets the payload already made (found by two keys in a
 * PairMemo, then checked field by field), frozen as perf-parse shares the
 * payloads of perf script lines that end alike, instead of an object of its
 * own: fewer objects for the collector, and a payload perf-parse writes once
 * (filters/records.ts).
 */
function shared<V extends object>(v: V): V {
  return Object.freeze(v);
}

/**
 * A task's 16-byte comm as text. Every switch and wakeup carries one or two,
 * and they repeat: the last few texts are kept with their bytes (as four
 * words), so a repeat costs four reads instead of a decode.
 */
function commReader(offset: number): (b: Buffer, at: number) => string {
  const SLOTS = 64;
  const words = new Uint32Array(SLOTS * 4);
  const texts: Array<string | undefined> = new Array<string | undefined>(SLOTS);
  return (buf, at) => {
    const o = at + offset;
    const a = buf.readUInt32LE(o);
    const b = buf.readUInt32LE(o + 4);
    const c = buf.readUInt32LE(o + 8);
    const d = buf.readUInt32LE(o + 12);
    const slot = ((a ^ (b * 31) ^ (c * 131) ^ (d * 1031)) >>> 0) % SLOTS;
    const w = slot * 4;
    const known = texts[slot];
    if (known !== undefined && words[w] === a && words[w + 1] === b && words[w + 2] === c && words[w + 3] === d) return known;
    const text = utf8(readChars(buf, o, o + 16));
    words[w] = a;
    words[w + 1] = b;
    words[w + 2] = c;
    words[w + 3] = d;
    texts[slot] = text;
    return text;
  };
}

// ------------------------------------------------------------ values

type Value = number | bigint | string;
type Eval = ((raw: Buffer, order: ByteOrder) => Value) & { constant?: Value };

/** A value known when the format is read: the kernel's formats spell masks out as long sums of constants, folded once here. */
function constant(v: Value): Eval {
  const e: Eval = () => v;
  e.constant = v;
  return e;
}

const NO_RECORD = Buffer.alloc(0);
const fold = (e: Eval): Eval => constant(e(NO_RECORD, new ByteOrder(true)));

const TWO31 = 2 ** 31;

function big(v: Value): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  return 0n;
}

function num(v: Value): number | bigint {
  return typeof v === 'string' ? 0 : v;
}

function truthy(v: Value): boolean {
  return typeof v === 'string' ? true : v !== 0 && v !== 0n;
}

/** Reads a field's integer value: a double where it is exact, a bigint for wider values. */
export function readInt(raw: Buffer, order: ByteOrder, f: Field): number | bigint {
  const o = f.offset;
  if (o + f.size > raw.length) return 0;
  switch (f.size) {
    case 1:
      return f.signed ? raw.readInt8(o) : raw[o]!;
    case 2:
      return f.signed ? order.i16(raw, o) : order.u16(raw, o);
    case 4:
      return f.signed ? order.i32(raw, o) : order.u32(raw, o);
    case 8: {
      const v = f.signed ? order.i64big(raw, o) : order.u64big(raw, o);
      return v >= -(2n ** 53n) && v <= 2n ** 53n ? Number(v) : v;
    }
    default:
      return 0;
  }
}

function readChars(raw: Buffer, start: number, end: number): string {
  end = Math.min(end, raw.length);
  let e = start;
  while (e < end && raw[e] !== 0) e++;
  return raw.toString('latin1', start, e);
}

function fieldValue(f: Field): Eval {
  if (f.chars) return (raw) => readChars(raw, f.offset, f.offset + f.size);
  if (f.loc !== undefined) return locString(f);
  return (raw, order) => readInt(raw, order, f);
}

function locString(f: Field): Eval {
  return (raw, order) => {
    if (f.offset + 4 > raw.length) return '';
    const v = order.u32(raw, f.offset);
    const off = (v & 0xffff) + (f.loc === 'rel' ? f.offset + f.size : 0);
    return readChars(raw, off, off + (v >>> 16));
  };
}

function binary(op: string, a: Value, b: Value): Value {
  const x = num(a);
  const y = num(b);
  const small = typeof x === 'number' && typeof y === 'number';
  switch (op) {
    case '==':
      return x == y ? 1 : 0; // eslint-disable-line eqeqeq
    case '!=':
      return x != y ? 1 : 0; // eslint-disable-line eqeqeq
    case '<':
      return x < y ? 1 : 0;
    case '>':
      return x > y ? 1 : 0;
    case '<=':
      return x <= y ? 1 : 0;
    case '>=':
      return x >= y ? 1 : 0;
    case '&&':
      return truthy(a) && truthy(b) ? 1 : 0;
    case '||':
      return truthy(a) || truthy(b) ? 1 : 0;
  }
  if (small) {
    const xs = x as number;
    const ys = y as number;
    const int31 = xs >= 0 && xs < TWO31 && ys >= 0 && ys < TWO31;
    switch (op) {
      case '+':
        return xs + ys;
      case '-':
        return xs - ys;
      case '*':
        return xs * ys;
      case '/':
        return ys === 0 ? 0 : Math.trunc(xs / ys);
      case '%':
        return ys === 0 ? 0 : xs % ys;
    }
    if (int31) {
      switch (op) {
        case '&':
          return xs & ys;
        case '|':
          return xs | ys;
        case '^':
          return xs ^ ys;
        case '>>':
          return xs >>> ys;
        case '<<':
          if (ys < 31 && xs * 2 ** ys < TWO31) return xs << ys;
      }
    }
  }
  const X = big(x);
  const Y = big(y);
  let r: bigint;
  switch (op) {
    case '+': r = X + Y; break;
    case '-': r = X - Y; break;
    case '*': r = X * Y; break;
    case '/': r = Y === 0n ? 0n : X / Y; break;
    case '%': r = Y === 0n ? 0n : X % Y; break;
    case '&': r = X & Y; break;
    case '|': r = X | Y; break;
    case '^': r = X ^ Y; break;
    case '<<': r = X << Y; break;
    case '>>': r = X >> Y; break;
    default: throw new Error(`operator ${op}`);
  }
  return r >= -(2n ** 53n) && r <= 2n ** 53n ? Number(r) : r;
}

// ------------------------------------------------------------ the print fmt's C

type Tok = { k: 'num'; v: number | bigint } | { k: 'str'; v: string } | { k: 'id'; v: string } | { k: 'op'; v: string };

const OPS = ['->', '<<', '>>', '==', '!=', '<=', '>=', '&&', '||', '(', ')', ',', '{', '}', '?', ':', '|', '&', '^', '+', '-', '*', '/', '%', '<', '>', '!', '~', '.', '[', ']'];

function tokenize(s: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (c === '"') {
      let v = '';
      i++;
      while (i < s.length && s[i] !== '"') {
        if (s[i] === '\\' && i + 1 < s.length) {
          const e = s[i + 1]!;
          v += e === 'n' ? '\n' : e === 't' ? '\t' : e;
          i += 2;
        } else v += s[i++];
      }
      i++;
      // Adjacent string literals are one string, as in C.
      const last = out[out.length - 1];
      if (last?.k === 'str') last.v += v;
      else out.push({ k: 'str', v });
      continue;
    }
    const m = /^(0[xX][0-9a-fA-F]+|\d+)[uUlL]*/.exec(s.slice(i, i + 40));
    if (m) {
      const b = BigInt(m[1]!);
      out.push({ k: 'num', v: b <= 2n ** 53n ? Number(b) : b });
      i += m[0].length;
      continue;
    }
    const id = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i, i + 200));
    if (id) {
      out.push({ k: 'id', v: id[0] });
      i += id[0].length;
      continue;
    }
    const op = OPS.find((o) => s.startsWith(o, i));
    if (op === undefined) throw new Error(`unexpected ${JSON.stringify(c)}`);
    out.push({ k: 'op', v: op });
    i += op.length;
  }
  return out;
}

const TYPE_WORDS = new Set(['int', 'long', 'unsigned', 'signed', 'char', 'short', 'bool', 'void', 'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'size_t', 'const', 'struct', 'pid_t']);
const PRECEDENCE: Record<string, number> = { '||': 1, '&&': 2, '|': 3, '^': 4, '&': 5, '==': 6, '!=': 6, '<': 7, '>': 7, '<=': 7, '>=': 7, '<<': 8, '>>': 8, '+': 9, '-': 9, '*': 10, '/': 10, '%': 10 };

class ExprParser {
  private i = 0;
  constructor(
    private readonly t: Tok[],
    private readonly fields: Map<string, Field>,
  ) {}

  done(): boolean {
    return this.i >= this.t.length;
  }

  private peek(): Tok | undefined {
    return this.t[this.i];
  }

  private isOp(v: string): boolean {
    const t = this.t[this.i];
    return t !== undefined && t.k === 'op' && t.v === v;
  }

  expect(v: string): void {
    if (!this.isOp(v)) throw new Error(`expected ${v}`);
    this.i++;
  }

  /** A string literal where one is due (the first argument of the print fmt). */
  string(): string {
    const t = this.t[this.i++];
    if (t?.k !== 'str') throw new Error('no format string');
    return t.v;
  }

  comma(): boolean {
    if (!this.isOp(',')) return false;
    this.i++;
    return true;
  }

  expr(): Eval {
    const cond = this.binary(1);
    if (!this.isOp('?')) return cond;
    this.i++;
    const a = this.expr();
    this.expect(':');
    const b = this.expr();
    if (cond.constant !== undefined) return truthy(cond.constant) ? a : b;
    return (r, o) => (truthy(cond(r, o)) ? a(r, o) : b(r, o));
  }

  private binary(min: number): Eval {
    let left = this.unary();
    for (;;) {
      const t = this.peek();
      if (t?.k !== 'op') return left;
      const p = PRECEDENCE[t.v];
      if (p === undefined || p < min) return left;
      this.i++;
      const right = this.binary(p + 1);
      const l = left;
      const op = t.v;
      left = (r, o) => binary(op, l(r, o), right(r, o));
      if (l.constant !== undefined && right.constant !== undefined) left = fold(left);
    }
  }

  private unary(): Eval {
    const t = this.peek();
    if (t?.k === 'op') {
      if (t.v === '!') {
        this.i++;
        const e = this.unary();
        const f: Eval = (r, o) => (truthy(e(r, o)) ? 0 : 1);
        return e.constant !== undefined ? fold(f) : f;
      }
      if (t.v === '-') {
        this.i++;
        const e = this.unary();
        const f: Eval = (r, o) => binary('-', 0, e(r, o));
        return e.constant !== undefined ? fold(f) : f;
      }
      if (t.v === '~') {
        this.i++;
        const e = this.unary();
        return (r, o) => {
          const v = big(e(r, o));
          return binary('^', v, (1n << 64n) - 1n);
        };
      }
      if (t.v === '(') {
        // A cast `(unsigned long)x` reads as the value itself.
        const next = this.t[this.i + 1];
        if (next?.k === 'id' && TYPE_WORDS.has(next.v)) {
          let j = this.i + 1;
          while (j < this.t.length && !(this.t[j]!.k === 'op' && this.t[j]!.v === ')')) j++;
          this.i = j + 1;
          return this.unary();
        }
        this.i++;
        const e = this.expr();
        this.expect(')');
        return e;
      }
    }
    return this.primary();
  }

  private primary(): Eval {
    const t = this.t[this.i++];
    if (t === undefined) throw new Error('expression cut short');
    if (t.k === 'num' || t.k === 'str') return constant(t.v);
    if (t.k === 'id') {
      if (t.v === 'REC') {
        this.expect('->');
        const f = this.field();
        return fieldValue(f);
      }
      if (t.v === '__get_str' || t.v === '__get_rel_str') {
        this.expect('(');
        const name = this.ident();
        this.expect(')');
        const f = this.fields.get(name);
        if (f === undefined) throw new Error(`no field ${name}`);
        return locString({ ...f, loc: t.v === '__get_rel_str' ? 'rel' : 'data' });
      }
      if (t.v === '__print_flags' || t.v === '__print_symbolic') {
        return this.table(t.v === '__print_flags');
      }
      throw new Error(`${t.v} is not supported`);
    }
    throw new Error(`unexpected ${t.v}`);
  }

  private ident(): string {
    const t = this.t[this.i++];
    if (t?.k !== 'id') throw new Error('expected a name');
    return t.v;
  }

  private field(): Field {
    const name = this.ident();
    const f = this.fields.get(name);
    if (f === undefined) throw new Error(`no field ${name}`);
    return f;
  }

  /** __print_flags(value, "delim", {v, "name"}, ...) and __print_symbolic(value, {v, "name"}, ...). */
  private table(flags: boolean): Eval {
    this.expect('(');
    const value = this.expr();
    let delim = '';
    this.expect(',');
    if (flags) {
      delim = this.string();
      this.expect(',');
    }
    const entries: Array<[bigint, string]> = [];
    do {
      this.expect('{');
      const v = this.expr();
      this.expect(',');
      const s = this.string();
      this.expect('}');
      entries.push([big(v(Buffer.alloc(0), new ByteOrder(true))), s]);
    } while (this.comma());
    this.expect(')');
    if (!flags) {
      return (r, o) => {
        const v = big(value(r, o));
        for (const [k, s] of entries) if (k === v) return s;
        return `0x${v.toString(16)}`;
      };
    }
    return (r, o) => {
      let v = big(value(r, o));
      let out = '';
      for (const [k, s] of entries) {
        if (v === 0n && k === 0n) {
          out = s;
          break;
        }
        if (k !== 0n && (v & k) === k) {
          if (out !== '') out += delim;
          out += s;
          v &= ~k;
        }
      }
      if (v !== 0n) {
        if (out !== '') out += delim;
        out += `0x${v.toString(16)}`;
      }
      return out;
    };
  }
}

interface Spec {
  lit: string;
  conv: string;
  flags: string;
  width: number;
  prec: number | undefined;
}

// Length modifiers are read and dropped: a field's size says how many bytes
// its value has. `L` and `q` (long long) are libtraceevent's too: the kernel
// prints a uprobe's u64 fetch arguments with `%Lu` and `0x%Lx`.
const SPEC_RE = /%([-+ #0]*)(\d*)(?:\.(\d+))?(hh|h|ll|l|L|q|z|j|t)?([diouxXscp%])/g;

function splitFormat(fmt: string): { parts: Spec[]; tail: string } {
  const parts: Spec[] = [];
  let last = 0;
  let m: RegExpExecArray | null;
  SPEC_RE.lastIndex = 0;
  let lit = '';
  while ((m = SPEC_RE.exec(fmt))) {
    lit += fmt.slice(last, m.index);
    last = m.index + m[0].length;
    if (m[5] === '%') {
      lit += '%';
      continue;
    }
    // `%pS`-style extensions: the letters after %p are part of it.
    if (m[5] === 'p') {
      const ext = /^[a-zA-Z]+/.exec(fmt.slice(last));
      if (ext) last += ext[0].length;
    }
    parts.push({ lit, conv: m[5]!, flags: m[1]!, width: m[2] ? Number(m[2]) : 0, prec: m[3] !== undefined ? Number(m[3]) : undefined });
    lit = '';
  }
  return { parts, tail: lit + fmt.slice(last) };
}

function pad(s: string, spec: Spec, numeric: boolean): string {
  if (s.length >= spec.width) return s;
  if (spec.flags.includes('-')) return s.padEnd(spec.width);
  if (numeric && spec.flags.includes('0')) {
    const neg = s.startsWith('-');
    return (neg ? '-' : '') + (neg ? s.slice(1) : s).padStart(spec.width - (neg ? 1 : 0), '0');
  }
  return s.padStart(spec.width);
}

function formatOne(spec: Spec, v: Value): string {
  switch (spec.conv) {
    case 's': {
      let s = typeof v === 'string' ? v : String(v);
      if (spec.prec !== undefined) s = s.slice(0, spec.prec);
      return pad(s, spec, false);
    }
    case 'c':
      return pad(typeof v === 'string' ? v.slice(0, 1) : String.fromCharCode(Number(v) & 0xff), spec, false);
    case 'd':
    case 'i':
      return pad(typeof v === 'string' ? v : String(v), spec, true);
    case 'u': {
      const n = typeof v === 'string' ? 0 : v;
      return pad(n < 0 ? (big(n) + (1n << 64n)).toString() : String(n), spec, true);
    }
    case 'x':
    case 'X':
    case 'o':
    case 'p': {
      const n = typeof v === 'string' ? 0 : v;
      const radix = spec.conv === 'o' ? 8 : 16;
      let s = n < 0 ? (big(n) + (1n << 64n)).toString(radix) : n.toString(radix);
      if (spec.conv === 'X') s = s.toUpperCase();
      if (spec.conv === 'p' || (spec.flags.includes('#') && n !== 0)) s = `0x${s}`;
      return pad(s, spec, true);
    }
    default:
      return String(v);
  }
}

/** `"fmt", arg, ...` into a function of the raw record. */
export function compilePrintFmt(src: string, fields: Map<string, Field>): Format['print'] {
  const p = new ExprParser(tokenize(src), fields);
  const fmt = p.string();
  const args: Eval[] = [];
  while (p.comma()) args.push(p.expr());
  if (!p.done()) throw new Error('text after the arguments');
  const { parts, tail } = splitFormat(fmt);
  if (parts.length !== args.length) throw new Error(`${parts.length} conversions for ${args.length} arguments`);
  return (raw, order) => {
    let out = '';
    for (let i = 0; i < parts.length; i++) out += parts[i]!.lit + formatOne(parts[i]!, args[i]!(raw, order));
    return out + tail;
  };
}
