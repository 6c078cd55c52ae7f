// The grammar of `perf script` text, one physical line at a time.
//
// perf prints a fixed-order prefix (comm, pid/tid, [cpu], misc, tod, time),
// then the event name right-aligned to the longest name in the file, then the
// payload. Thread names may hold spaces, digits, colons, `==>`, tabs and cut
// UTF-8, so nothing here splits on whitespace: a line is read from its time
// anchor (`SEC.FRACTION: `) outwards. Strings are handled as latin1 (one
// character per byte, so comm widths are byte widths) and turned into UTF-8
// only when they leave (`utf8`).
import { own } from './lines.js';

export interface Frame {
  /** Hex address as printed (dso-relative or absolute); a string, since 64-bit addresses do not fit a double. */
  addr: string;
  sym?: string | null;
  off?: number;
  dso?: string | null;
  inlined?: true;
  srcline?: string;
}

/** What the prefix and the event column of an event line hold. */
export interface Head {
  comm?: string;
  pid?: number;
  tid?: number;
  cpu?: number;
  misc?: string;
  tod?: string;
  ts: number;
  decimals: number;
  /** PERF_RECORD_* side-band line: name and the text after it. */
  record?: string;
  period?: number;
  event?: string;
  /** Text after `event: ` (tracepoint payload, or an ip/sym/dso), trimmed at the start. */
  payload: string;
  /** The comm came from perf's left-padded column, where leading spaces of the name itself are lost. */
  padded?: boolean;
  /** What followed the time, shared by every line with the same text there (a place to keep what is read from it). */
  suffix?: Suffix;
}

/** Per-file facts learned from the first event lines, used to reject fake anchors. */
export interface Layout {
  decimals?: number;
  /** Width of the pid/tid columns: 5 until perf 6.4, 7 after. */
  taskWidth: number;
  latency?: boolean;
  /** What readPrefix read from each prefix seen (false: not one). */
  prefixes?: Memo<Prefix | false>;
  /** What readAround read after the time of each line (false: not an event). */
  suffixes?: Memo<Suffix | false>;
}

/** The fields before the time, as readPrefix reads them. */
interface Prefix {
  comm: string | undefined;
  pid: number | undefined;
  tid: number | undefined;
  cpu: number | undefined;
  misc: string | undefined;
  padded: boolean;
}

/** What follows an event line's time: a side-band record, or [period] event: payload. */
export interface Suffix {
  record?: string;
  period?: number;
  event?: string;
  payload: string;
  /** The payload as read by whoever reads it (perf-parse), kept for the next line with this suffix. */
  parsed?: unknown;
}

/**
 * What was read from a part of a line, looked up by the part's text. A
 * thread's lines on one CPU begin with the same text up to the time, and an
 * event's lines mostly end with the same text after it (a probe's addresses, a
 * switch between the same two threads): 287 suffixes in the bench's 550,000
 * lines. Past MEMO_MAX keys the memo is emptied and learns again, unless fewer
 * lookups found theirs than that: then the file's parts seldom repeat
 * (thousands of threads, a payload with counters) and the memo turns itself
 * off, since looking up would cost more than reading.
 */
export class Memo<V> {
  private map = new Map<string, V>();
  /** Lookups that found their key since the map was last emptied. */
  hits = 0;
  /** False once the memo turned itself off (or was made off). */
  on = true;

  static off<V>(): Memo<V> {
    const m = new Memo<V>();
    m.on = false;
    return m;
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) this.hits++;
    return v;
  }

  /** Keeps `v` under `key`, which must be a copy (own): a slice of a line would keep the whole chunk it came in alive. */
  set(key: string, v: V): void {
    if (this.map.size >= MEMO_MAX) {
      this.map.clear();
      if (this.hits < MEMO_MAX) {
        this.on = false;
        return;
      }
      this.hits = 0;
    }
    this.map.set(key, v);
  }
}

const MEMO_MAX = 4096;

const CH_SPACE = 32;
const CH_0 = 48;
const CH_9 = 57;
const CH_DOT = 46;
const CH_COLON = 58;

function isDigit(c: number): boolean {
  return c >= CH_0 && c <= CH_9;
}

/** Turns latin1-decoded text back into the UTF-8 it was (invalid bytes become U+FFFD). */
export function utf8(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\x80-\xff]/.test(s) ? Buffer.from(s, 'latin1').toString('utf8') : s;
}

/**
 * Integer nanoseconds from `SEC.FRACTION` without going through a float of
 * seconds: SEC*1e9 is exact, and the sum rounds to the nearest double, which
 * stays within 2 ns up to 2^54 ns (208 days of uptime) and 4 ns up to 2^55.
 */
export function parseTs(line: string, start: number, dot: number, end: number): number {
  let sec = 0;
  for (let i = start; i < dot; i++) sec = sec * 10 + (line.charCodeAt(i) - CH_0);
  let frac = 0;
  for (let i = dot + 1; i < end; i++) frac = frac * 10 + (line.charCodeAt(i) - CH_0);
  const digits = end - dot - 1;
  const scale = digits === 9 ? 1 : digits === 6 ? 1000 : 10 ** (9 - digits);
  return sec * 1e9 + frac * scale;
}

/** Where findTime found the time's dot and colon (its start is what it returns): no tuple made per line. */
let foundDot = 0;
let foundColon = 0;

/**
 * Finds the time column: a run of digits, a dot, 6 or 9 digits, then `:`
 * followed by a space or the end of the line, with a space or the line start
 * before it. Returns where its seconds begin (its dot and colon in foundDot
 * and foundColon), or -1. `from` skips candidates that a caller already
 * rejected.
 */
function findTime(line: string, from: number, decimals?: number): number {
  let c = line.indexOf(':', from);
  while (c !== -1) {
    if (c + 1 === line.length || line.charCodeAt(c + 1) === CH_SPACE) {
      let i = c - 1;
      while (i >= 0 && isDigit(line.charCodeAt(i))) i--;
      const digits = c - 1 - i;
      if (
        i > 0 &&
        line.charCodeAt(i) === CH_DOT &&
        (decimals === undefined ? digits === 6 || digits === 9 : digits === decimals)
      ) {
        const dot = i;
        i--;
        while (i >= 0 && isDigit(line.charCodeAt(i))) i--;
        if (i < dot - 1 && (i < 0 || line.charCodeAt(i) === CH_SPACE)) {
          foundDot = dot;
          foundColon = c;
          return i + 1;
        }
      }
    }
    c = line.indexOf(':', c + 1);
  }
  return -1;
}

const TOD_RE = /(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+)$/;

/**
 * Parses an event or side-band line. Returns undefined when the line is not
 * one (a frame, a header comment, garbage). Learns the decimals on first use.
 */
export function parseHead(line: string, layout: Layout): Head | undefined {
  let from = 0;
  for (;;) {
    const secStart = findTime(line, from, layout.decimals);
    if (secStart === -1) return undefined;
    const colon = foundColon;
    const head = readAround(line, secStart, foundDot, colon, layout);
    if (head !== undefined) {
      if (layout.decimals === undefined) layout.decimals = head.decimals;
      return head;
    }
    from = colon + 1;
  }
}

function readAround(line: string, secStart: number, dot: number, colon: number, layout: Layout): Head | undefined {
  // The fields every event line has are there from the start (filled in below): added one by one they went to a store of their own.
  const head: Head = {
    comm: undefined,
    pid: undefined,
    tid: undefined,
    cpu: undefined,
    ts: parseTs(line, secStart, dot, colon),
    decimals: colon - dot - 1,
    event: undefined,
    payload: '',
  };
  if (!readPrefix(line, secStart, head, layout)) return undefined;
  const after = suffixOf(line, colon, layout, head);
  if (after === false) return undefined;
  if (after.record !== undefined) {
    head.record = after.record;
    return head;
  }
  if (after.period !== undefined) head.period = after.period;
  head.event = after.event;
  head.payload = after.payload;
  return head;
}

/**
 * What follows the time: looked up (a hash of the line's end costs less than
 * reading it), else read; a memo's entry is linked from the head.
 */
function suffixOf(line: string, colon: number, layout: Layout, head: Head): Suffix | false {
  const memo = (layout.suffixes ??= new Memo());
  if (!memo.on) return readSuffix(line, colon);
  const key = line.slice(colon + 1);
  let after = memo.get(key);
  if (after === undefined) {
    after = readSuffix(line, colon);
    if (after !== false) after = { ...after, record: own(after.record), event: own(after.event), payload: own(after.payload) };
    memo.set(own(key), after);
  }
  if (after !== false) head.suffix = after;
  return after;
}

/** After the time: a side-band record, or [period] event: payload. */
function readSuffix(line: string, colon: number): Suffix | false {
  let p = colon + 1;
  while (p < line.length && line.charCodeAt(p) === CH_SPACE) p++;
  if (line.startsWith('PERF_RECORD_', p)) return { record: line.slice(p + 12), payload: '' };
  // Optional period (`%10lu `): digits followed by a space, then the event.
  let period: number | undefined;
  let q = p;
  while (q < line.length && isDigit(line.charCodeAt(q))) q++;
  if (q > p && q < line.length && line.charCodeAt(q) === CH_SPACE) {
    period = Number(line.slice(p, q));
    p = q;
    while (p < line.length && line.charCodeAt(p) === CH_SPACE) p++;
  }
  // Event name: up to the first `: ` (names contain `:` but never `: `), or a final `:`.
  let e = line.indexOf(': ', p);
  if (e === -1) {
    if (line.length > p && line.charCodeAt(line.length - 1) === CH_COLON) e = line.length - 1;
    else return false;
  }
  if (e === p) return false;
  const event = line.slice(p, e);
  if (event.indexOf(' ') !== -1) return false;
  p = e + 1;
  while (p < line.length && line.charCodeAt(p) === CH_SPACE) p++;
  return period === undefined ? { event, payload: line.slice(p) } : { period, event, payload: line.slice(p) };
}

/**
 * Reads comm, pid/tid, cpu, misc and tod leftwards from the time. A thread's
 * lines on one CPU begin with the same text up to the time: read once, looked
 * up after (a character loop over 40 bytes cost more than the lookup). Not
 * for lines with the time of day, which differs on every line, nor for -L's
 * layout, learnt from the lines themselves.
 */
function readPrefix(line: string, end: number, head: Head, layout: Layout): boolean {
  // A short prefix is read as it comes: -L's test looks at the line's byte 8, which may lie past it.
  if (end < 18 || layout.latency) return readPrefixOnce(line, end, head, layout);
  const memo = (layout.prefixes ??= new Memo());
  if (!memo.on) return readPrefixOnce(line, end, head, layout);
  const key = line.slice(0, end);
  const known = memo.get(key);
  if (known !== undefined) {
    if (known === false) return false;
    head.comm = known.comm;
    head.pid = known.pid;
    head.tid = known.tid;
    head.cpu = known.cpu;
    if (known.misc !== undefined) head.misc = known.misc;
    if (known.padded) head.padded = true;
    return true;
  }
  const ok = readPrefixOnce(line, end, head, layout);
  if (layout.latency) {
    layout.prefixes = Memo.off();
    return ok;
  }
  if (head.tod !== undefined) return ok;
  memo.set(own(key), ok ? { comm: own(head.comm), pid: head.pid, tid: head.tid, cpu: head.cpu, misc: own(head.misc), padded: head.padded === true } : false);
  return ok;
}

function readPrefixOnce(line: string, end: number, head: Head, layout: Layout): boolean {
  // Helpers are plain functions of p, not closures over it: a closure's context was made per line.
  let p = spacesBefore(line, end);
  if (p === 0) return true; // -F time,event,...: nothing before the time

  // Wall-clock time of day (-F +tod): `YYYY-MM-DD HH:MM:SS.frac`, the only token with a colon.
  {
    const s0 = tokenBefore(line, p);
    if (line.indexOf(':', s0) !== -1 && line.indexOf(':', s0) < p) {
      const m = TOD_RE.exec(line.slice(Math.max(0, p - 40), p));
      if (m) {
        head.tod = m[1];
        p -= m[1]!.length;
        p = spacesBefore(line, p);
        if (p === 0) return true;
      }
    }
  }

  let s = tokenBefore(line, p);
  // misc letters (-F +misc) sit between [cpu] and the time.
  if (p - s <= 6 && isMisc(line, s, p) && s > 0) {
    let b = s;
    while (b > 0 && line.charCodeAt(b - 1) === CH_SPACE) b--;
    const c = b > 0 ? line.charCodeAt(b - 1) : 0;
    if (c === 93 /* ] */ || (c >= CH_0 && c <= CH_9)) {
      head.misc = line.slice(s, p);
      p = s;
      p = spacesBefore(line, p);
      s = tokenBefore(line, p);
    }
  }
  if (p - s >= 3 && line.charCodeAt(s) === 91 /* [ */ && line.charCodeAt(p - 1) === 93) {
    const cpu = intAt(line, s + 1, p - 1);
    if (Number.isNaN(cpu) || cpu < 0) return false;
    head.cpu = cpu;
    p = s;
    p = spacesBefore(line, p);
    if (p === 0) return true;
    s = tokenBefore(line, p);
  } else if (s > 0 && !Number.isNaN(intAt(line, s, p)) && line.charCodeAt(s) !== 45) {
    // -L: cpu as a bare number after an 8-byte comm; only when the tid token ends early.
    let q = s;
    while (q > 0 && line.charCodeAt(q - 1) === CH_SPACE) q--;
    let s2 = q;
    while (s2 > 0 && line.charCodeAt(s2 - 1) !== CH_SPACE) s2--;
    if (q < 16 && !Number.isNaN(intAt(line, s2, q)) && (layout.latency || line.charCodeAt(8) === CH_SPACE)) {
      layout.latency = true;
      head.cpu = intAt(line, s, p);
      p = q;
      s = s2;
    }
  }
  // pid/tid or tid.
  const slash = line.indexOf('/', s);
  let firstLen: number;
  if (slash !== -1 && slash < p) {
    const pid = intAt(line, s, slash);
    const tid = intAt(line, slash + 1, p);
    if (Number.isNaN(pid) || Number.isNaN(tid)) return false;
    head.pid = pid;
    head.tid = tid;
    firstLen = slash - s;
  } else {
    const tid = intAt(line, s, p);
    if (Number.isNaN(tid)) return false;
    head.tid = tid;
    firstLen = p - s;
  }
  // The comm: everything before the task column, less its separator and padding.
  let lead = 0;
  while (lead < s && line.charCodeAt(lead) === CH_SPACE) lead++;
  if (lead === s) return true; // -F -comm: nothing but padding before the task column
  if (layout.latency) {
    head.comm = line.slice(0, Math.min(8, s)).trimEnd();
    return true;
  }
  const pad = Math.max(0, layout.taskWidth - firstLen);
  let commEnd = s - 1 - pad;
  let ok = commEnd >= 0;
  for (let i = Math.max(0, commEnd); ok && i < s; i++) if (line.charCodeAt(i) !== CH_SPACE) ok = false;
  if (!ok) {
    commEnd = s;
    while (commEnd > 0 && line.charCodeAt(commEnd - 1) === CH_SPACE) commEnd--;
  }
  if (commEnd <= 0) return false;
  // Padded (`%16s `): 16 bytes and a space, left-padded. Otherwise (events with
  // callchains) the comm is printed as it is, leading spaces and all.
  const padded = line.charCodeAt(0) === CH_SPACE && line.charCodeAt(16) === CH_SPACE && commEnd >= 16;
  head.comm = padded ? line.slice(lead, commEnd) : line.slice(0, commEnd);
  if (padded && lead > 0) head.padded = true;
  return true;
}

/** Where the run of spaces ending at p begins. */
function spacesBefore(line: string, p: number): number {
  while (p > 0 && line.charCodeAt(p - 1) === CH_SPACE) p--;
  return p;
}

/** Where the token ending at p begins (at a space, or the line's start). */
function tokenBefore(line: string, p: number): number {
  let s = p;
  while (s > 0 && line.charCodeAt(s - 1) !== CH_SPACE) s--;
  return s;
}

/** The integer in line[s, e) when it is all `-?digits` (at most 15 of them), else NaN. */
function intAt(line: string, s: number, e: number): number {
  let i = s;
  let neg = false;
  if (i < e && line.charCodeAt(i) === 45 /* - */) {
    neg = true;
    i++;
  }
  if (i === e || e - i > 15) return NaN;
  let n = 0;
  for (; i < e; i++) {
    const c = line.charCodeAt(i) - CH_0;
    if (c < 0 || c > 9) return NaN;
    n = n * 10 + c;
  }
  return neg ? -n : n;
}

const MISC_CHARS = 'KUHGgMESp';
function isMisc(line: string, s: number, e: number): boolean {
  if (e <= s) return false;
  for (let i = s; i < e; i++) if (MISC_CHARS.indexOf(line.charAt(i)) === -1) return false;
  return true;
}

/**
 * One callchain or ip/sym/dso frame, from text that starts at the address:
 * `addr [sym[+0xoff]] [(dso)|(inlined)]`. The dso is the text in the last
 * ` (`...`)` that closes the line, since symbols hold parentheses too.
 */
export function parseFrame(s: string): Frame {
  const sp = s.indexOf(' ');
  const addr = sp === -1 ? s : s.slice(0, sp);
  if (sp === -1) return { addr };
  let rest = s.slice(sp + 1).trimStart();
  let dso: string | null | undefined;
  let inlined = false;
  if (rest === '(inlined)' || rest.endsWith(' (inlined)')) {
    inlined = true;
    rest = rest.slice(0, Math.max(0, rest.length - 10)).trimEnd();
  } else if (rest.endsWith(')')) {
    const k = rest.lastIndexOf(' (');
    if (k !== -1 || rest.startsWith('(')) {
      const d = rest.slice(k + 2, -1);
      dso = d === '[unknown]' ? null : utf8(d);
      rest = k < 0 ? '' : rest.slice(0, k);
    }
  }
  const frame: Frame = { addr };
  if (rest.length > 0) {
    let off: number | undefined;
    const plus = rest.lastIndexOf('+0x');
    if (plus > 0 && /^[0-9a-f]+$/.test(rest.slice(plus + 3))) {
      off = parseInt(rest.slice(plus + 3), 16);
      rest = rest.slice(0, plus);
    }
    frame.sym = rest === '[unknown]' ? null : utf8(rest);
    if (off !== undefined) frame.off = off;
  }
  if (dso !== undefined) frame.dso = dso;
  if (inlined) frame.inlined = true;
  return frame;
}

export const HEX_RE = /^[0-9a-f]+$/;

/** A callchain line: a TAB (or, after `expand`, spaces) then a hex address. */
export function isFrameLine(line: string): boolean {
  let i = 0;
  while (i < line.length && (line.charCodeAt(i) === 9 || line.charCodeAt(i) === CH_SPACE)) i++;
  if (i === 0) return false;
  const j = hexEnd(line, i);
  return j > i && (j === line.length || line.charCodeAt(j) === CH_SPACE);
}

/** Where the lower-case hex digits from `i` end (past the end of the text, charCodeAt is NaN: no digit). */
export function hexEnd(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (!((c >= CH_0 && c <= CH_9) || (c >= 97 && c <= 102))) return i;
    i++;
  }
}
