// The payloads of `perf script` event lines: what follows `event: `.
// sched_switch and sched_waking in both the kernel's format and
// libtraceevent's plugin format, uprobe hits `(addr)` and returns
// `(addr <- ret)`, generic `key=value` lists, and an ip/sym/dso printed on
// the same line.
import { HEX_RE, type Frame, hexEnd, parseFrame, utf8 } from './perf-grammar.js';

export interface Payload {
  fields?: Record<string, unknown>;
  probe?: { func: string; ret?: string };
  /** Raw text kept when no structured reading covers it all. */
  payload?: string;
  /** The same-line ip sym+off (dso) printed after a payload (-F ...,ip,sym,dso). */
  ip?: Frame;
  /** The data address of an event with -F +addr. */
  addr?: Frame;
}

const SWITCH_RE =
  /^prev_comm=([\s\S]*) prev_pid=(-?\d+) prev_prio=(-?\d+) prev_state=(\S+) ==> next_comm=([\s\S]*) next_pid=(-?\d+) next_prio=(-?\d+)(?= |$)/;
const SWITCH_PLUGIN_RE = /^([\s\S]*):(-?\d+) \[(-?\d+)\] (\S+) ==> ([\s\S]*):(-?\d+) \[(-?\d+)\](?= |$)/;
const WAKE_RE = /^comm=([\s\S]*) pid=(-?\d+) prio=(-?\d+)(?: success=(\d+))? target_cpu=(\d+)(?= |$)/;
const WAKE_PLUGIN_RE = /^([\s\S]*):(-?\d+) \[(-?\d+)\](?: success=(\d+))? CPU:(\d+)(?= |$)/;
const WAKE_OLD_RE = /^task ([\s\S]*):(-?\d+) \[(-?\d+)\] success=(\d+) \[(\d+)\](?= |$)/;
const PROBE_RE = /^\(([0-9a-f]+)(?: <- ([0-9a-f]+))?\)/;
const KEY_RE = /(?:^| )([A-Za-z_][A-Za-z0-9_]*)=/g;
const INT_RE = /^-?\d{1,15}$/;

/** The name after the group: `sched:sched_switch` -> `sched_switch`. */
export function baseName(event: string): string {
  const c = event.indexOf(':');
  return c === -1 ? event : event.slice(c + 1);
}

export function parsePayload(event: string, text: string): Payload {
  const name = baseName(event);
  let m: RegExpExecArray | null;
  if (name === 'sched_switch') {
    if ((m = SWITCH_RE.exec(text)) || (m = SWITCH_PLUGIN_RE.exec(text))) {
      const out: Payload = {
        fields: {
          prev_comm: utf8(m[1]!),
          prev_pid: Number(m[2]),
          prev_prio: Number(m[3]),
          prev_state: m[4],
          next_comm: utf8(m[5]!),
          next_pid: Number(m[6]),
          next_prio: Number(m[7]),
        },
      };
      trailing(out, text, m[0].length);
      return out;
    }
  } else if (name === 'sched_wakeup' || name === 'sched_waking' || name === 'sched_wakeup_new') {
    if ((m = WAKE_RE.exec(text)) || (m = WAKE_PLUGIN_RE.exec(text)) || (m = WAKE_OLD_RE.exec(text))) {
      const fields: Record<string, unknown> = { comm: utf8(m[1]!), pid: Number(m[2]), prio: Number(m[3]) };
      if (m[4] !== undefined) fields.success = Number(m[4]);
      fields.target_cpu = Number(m[5]);
      const out: Payload = { fields };
      trailing(out, text, m[0].length);
      return out;
    }
  }
  if (name === 'sched_switch' || name === 'sched_wakeup' || name === 'sched_waking' || name === 'sched_wakeup_new') {
    // A known format that did not match (a thread name with a newline cuts the
    // line): guessing fields would invent values, so keep the text as it is.
    return text.length > 0 ? { payload: utf8(text) } : {};
  }
  const plain = plainProbe(text);
  if (plain !== undefined) return plain;
  if ((m = PROBE_RE.exec(text))) {
    const out: Payload = { probe: m[2] === undefined ? { func: m[1]! } : { func: m[1]!, ret: m[2] } };
    const rest = text.slice(m[0].length).trimStart();
    if (rest.length > 0) {
      // Fetch arguments (`arg1=0x... arg2="str"`) and/or a same-line ip/sym/dso.
      const ip = trailingFrame(rest);
      const args = ip ? rest.slice(0, ip.at).trimEnd() : rest;
      if (ip) out.ip = ip.frame;
      if (args.length > 0) out.fields = keyValues(args) ?? { args: utf8(args) };
    }
    return out;
  }
  // No tracepoint payload: the ip (and, with -F +addr, the data address) of a software or hardware event.
  if (isFrameText(text)) return frames(text);
  const kv = keyValues(text);
  if (kv) {
    const out: Payload = { fields: kv };
    lastValueFrame(out, kv);
    return out;
  }
  return text.length > 0 ? { payload: utf8(text) } : {};
}

/**
 * A uprobe hit or return and nothing after it, `(addr)` or `(addr <- ret)`:
 * half of a GIL recording's lines. Read without PROBE_RE's match; anything
 * else (arguments, a frame after it) is left to it.
 */
function plainProbe(text: string): Payload | undefined {
  if (text.charCodeAt(0) !== 40 /* ( */) return undefined;
  const f = hexEnd(text, 1);
  if (f === 1) return undefined;
  if (text.charCodeAt(f) === 41 /* ) */) return f + 1 === text.length ? { probe: { func: text.slice(1, f) } } : undefined;
  if (!text.startsWith(' <- ', f)) return undefined;
  const r = hexEnd(text, f + 4);
  if (r === f + 4 || text.charCodeAt(r) !== 41 || r + 1 !== text.length) return undefined;
  return { probe: { func: text.slice(1, f), ret: text.slice(f + 4, r) } };
}

/** A value, then an ip/sym/dso: what ends the last field of a line printed with `-F +ip,+sym,+dso`. */
const LAST_VALUE_FRAME_RE = /^(\S+) +([0-9a-f]{8,} .*\((?:[^()]|\([^()]*\))*\))$/;

/**
 * perf prints the ip of an event that has no callchain on the payload's
 * line, after it: the last `key=value` would swallow it
 * (`child_pid=16896 ffffffff813a5371 __traceiter_sched_process_fork ([kernel.kallsyms])`).
 */
function lastValueFrame(out: Payload, kv: Record<string, unknown>): void {
  let last: string | undefined;
  for (const k in kv) last = k;
  const v = last === undefined ? undefined : kv[last];
  if (typeof v !== 'string') return;
  const m = LAST_VALUE_FRAME_RE.exec(v);
  if (!m) return;
  kv[last!] = INT_RE.test(m[1]!) ? Number(m[1]) : m[1];
  out.ip = parseFrame(m[2]!);
}

function isFrameText(text: string): boolean {
  const sp = text.indexOf(' ');
  const first = sp === -1 ? text : text.slice(0, sp);
  return first.length > 0 && HEX_RE.test(first) && (sp === -1 || /\)$/.test(text) || text.indexOf('(') === -1);
}

/** `ADDR sym (dso) IP sym (dso)` (with +addr) or `IP sym (dso)`. */
function frames(text: string): Payload {
  const parts: string[] = [];
  // Split before each hex address that follows a closing `)`.
  const re = /\) +(?=[0-9a-f]+(?: |$))/g;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    parts.push(text.slice(last, m.index + 1));
    last = m.index + m[0].length;
  }
  parts.push(text.slice(last));
  const out: Payload = {};
  if (parts.length >= 2) {
    out.addr = parseFrame(parts[0]!.trim());
    out.ip = parseFrame(parts[parts.length - 1]!.trim());
  } else {
    out.ip = parseFrame(parts[0]!.trim());
  }
  return out;
}

/** Reads a same-line ip/sym/dso that follows a parsed payload. */
function trailing(out: Payload, text: string, consumed: number): void {
  const rest = text.slice(consumed).trim();
  if (rest.length === 0) return;
  const ip = trailingFrame(rest);
  if (ip && ip.at === 0) out.ip = ip.frame;
  else out.payload = utf8(text);
}

const TRAILING_FRAME_RE = /(?:^|\s)([0-9a-f]+)(?: (.*?))?(?: \((?:[^()]|\([^()]*\))*\))?$/;

function trailingFrame(rest: string): { at: number; frame: Frame } | undefined {
  // The frame starts at a hex token; it ends the line with `(dso)`, or is a bare address.
  const m = TRAILING_FRAME_RE.exec(rest);
  if (!m) return undefined;
  // Where the hex token itself starts: the separator before it may be a space or a tab.
  const at = m.index + m[0].indexOf(m[1]!);
  const text = rest.slice(at);
  if (!(text.endsWith(')') || HEX_RE.test(text))) return undefined;
  return { at, frame: parseFrame(text) };
}

/**
 * Best-effort `key=value ...`: a key is a C identifier after the start or a
 * space, and a value runs to the next ` key=`, so values may hold spaces
 * (`filename=sp dir/py thon pid=1`). Integers become numbers.
 */
export function keyValues(text: string): Record<string, unknown> | undefined {
  KEY_RE.lastIndex = 0;
  const keys: Array<[string, number, number]> = [];
  let m: RegExpExecArray | null;
  while ((m = KEY_RE.exec(text))) keys.push([m[1]!, m.index, m.index + m[0].length]);
  if (keys.length === 0 || keys[0]![1] !== 0) return undefined;
  const out: Record<string, unknown> = {};
  for (let i = 0; i < keys.length; i++) {
    const [k, , vStart] = keys[i]!;
    const vEnd = i + 1 < keys.length ? keys[i + 1]![1] : text.length;
    const v = text.slice(vStart, vEnd);
    out[k] = INT_RE.test(v) ? Number(v) : utf8(v);
  }
  return out;
}
