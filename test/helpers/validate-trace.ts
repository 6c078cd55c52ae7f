// What Perfetto's legacy JSON importer and the Catapult trace viewer require
// of a Chrome Trace Event file, checked without either of them.
//
// Neither Perfetto nor chrome://tracing can run here, and the Catapult viewer
// that can (test/helpers/viewer.ts) silently accepts partially overlapping X
// slices, which Perfetto drops. So the rules live here, each one traceable to
// the spec, Perfetto's importer or Catapult's importer (see
// /work/shared/notes/viztracer.md sections 7-8 and trace-viewers.md).
//
//   validateTrace(textOrObject)   -> string[]   (empty = valid)
//   validateTraceFile(path)       -> Promise<string[]>, streams the file
//   new TraceChecker()            -> feed events one by one, then finish()
//
// The rules, in the order they are checked:
//   container  text starts with {" or [{" (no BOM); object form complete
//              and with a traceEvents array; array form may lack its "]";
//              displayTimeUnit "ms"|"ns"; viztracer_metadata, file_info objects
//   every event  an object; ph a known phase; ts a finite number >= 0 (all but
//              M); dur >= 0; pid an integer in [0, 2^32), tid too (required on
//              thread events); args an object or null; not both id and id2
//   X          has dur; X and paired B/E slices on a (pid, tid) nest: one that
//              starts inside another ends inside it (exact on the decimals as
//              written); depth <= 512
//   B/E        in file order per track (Catapult); balanced in time order, E
//              first on ties (Perfetto); a named E matches its B; B and E do
//              not both set one arg
//   i/I/R      s is t, p or g
//   C          non-empty args, all finite numbers; no series added after the
//              counter's first sample
//   M          a known name; process_name/thread_name need a non-empty
//              args.name; *_sort_index a numeric args.sort_index
//   b/e/n      cat, name and id (or id2.local/global); per (cat, scope, id) in
//              time order an e closes the innermost open b of its name, no
//              child left open, no b left open
//   s/t/f      name and id (hex if a string); per (id, cat, name) in time
//              order: s not already open and inside a slice on its thread;
//              t/f after an open s; t and f with bp:"e" inside a slice, f
//              otherwise before a later-starting slice; bp only "e"; every
//              chain ends with an f
//
// Memory: the checker keeps, per track, what the nesting/pairing rules need
// (one small record per slice, B/E, async or flow event); it never keeps the
// events themselves. validateTraceFile scans the file in chunks, so files
// beyond V8's 512 MB string limit work too.
import { createReadStream } from 'node:fs';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Ev = { [k: string]: Json };

// Phases Catapult's importer understands (everything else is an import
// warning there); Perfetto handles a subset and ignores N/O/D silently.
const KNOWN_PHASES = new Set([
  'B', 'E', 'X', 'b', 'e', 'n', 'S', 'T', 'F', 'p', 'I', 'i', 'R', 'P', 'C', 'M',
  'N', 'O', 'D', 's', 't', 'f', 'v', 'V', '(', ')', 'c',
]);
// Metadata names Catapult knows; any other name is an import warning there.
const KNOWN_METADATA = new Set([
  'process_name', 'process_labels', 'process_uptime_seconds', 'process_sort_index',
  'thread_name', 'thread_sort_index', 'num_cpus', 'stackFrames', 'typeNames', 'TraceConfig',
  'JitCodeAdded', 'JitCodeMoved',
]);
// Phases that live on a thread and therefore need a tid.
const THREAD_PHASES = new Set(['B', 'E', 'X', 's', 't', 'f']);
// Perfetto's slice_max_depth_exceeded.
const MAX_DEPTH = 512;

export interface CheckOptions {
  /** Stop listing problems after this many (a count of the rest is appended). */
  maxProblems?: number;
}

interface Slice { ts: number; dur: number; idx: number; name: string; x?: boolean }
interface BE { ph: 'B' | 'E'; ts: number; idx: number; name: string | undefined; args: Ev | undefined }
interface Track {
  pid: number; tid: number;
  slices: Slice[];        // X, paired B/E and thread-scoped instants
  be: BE[];
  lastBeTs: number;       // for Catapult's file-order pairing
  backwards: number;
  sorted?: Slice[];       // slices in start order, after the nesting sweep
  topLevel?: Slice[];     // disjoint outermost slices, in start order
}
interface AsyncEv { ph: string; ts: number; idx: number; name: string; key: string }
interface FlowEv { ph: string; ts: number; idx: number; key: string; id: string; track: string; bp: Json | undefined }

const isObj = (v: unknown): v is Ev => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const show = (v: unknown) => (typeof v === 'string' ? JSON.stringify(v) : String(JSON.stringify(v)));

/**
 * Is a + b > c + d, decided on the decimal values as written?
 * Doubles decide when the sums are clearly apart; when they are within a few
 * ulps the question is settled exactly, so 0.1 + 0.2 vs 0.3 counts as equal
 * (as the producer wrote it) and no tolerance hides a real overrun.
 */
function sumGreater(a: number, b: number, c: number, d: number): boolean {
  const l = a + b, r = c + d;
  const slack = 8 * Number.EPSILON * Math.max(Math.abs(l), Math.abs(r), 1);
  if (Math.abs(l - r) > slack) return l > r;
  // Values written with up to 9 decimals compare exactly as scaled integers.
  for (const k of [1e3, 1e6, 1e9]) {
    const s = [a, b, c, d].map((v) => Math.round(v * k));
    if (s.every((x, i) => Math.abs(x) < 2 ** 51 && x / k === [a, b, c, d][i])) return s[0]! + s[1]! > s[2]! + s[3]!;
  }
  const [x1, x2, y1, y2] = [a, b, c, d].map(toDecimal);
  const e = Math.min(x1!.e, x2!.e, y1!.e, y2!.e);
  const scale = (v: { m: bigint; e: number }) => v.m * 10n ** BigInt(v.e - e);
  return scale(x1!) + scale(x2!) > scale(y1!) + scale(y2!);
}
/** The shortest decimal that round-trips to v, as mantissa × 10^e. */
function toDecimal(v: number): { m: bigint; e: number } {
  const [coef, expPart] = String(v).split('e');
  const exp = expPart === undefined ? 0 : Number(expPart);
  const neg = coef!.startsWith('-');
  const [int, frac = ''] = (neg ? coef!.slice(1) : coef!).split('.');
  const m = BigInt(int! + frac) * (neg ? -1n : 1n);
  return { m, e: exp - frac.length };
}
const endsAfter = (s: Slice, t: Slice) => sumGreater(s.ts, s.dur, t.ts, t.dur);
const endsAtOrBefore = (s: Slice, ts: number) => !sumGreater(s.ts, s.dur, ts, 0);

export class TraceChecker {
  private problems: string[] = [];
  private dropped = 0;
  private readonly max: number;
  private n = 0;
  private tracks = new Map<string, Track>();
  private async: AsyncEv[] = [];
  private flows: FlowEv[] = [];
  private counterSeries = new Map<string, Set<string>>();
  private pidKinds = new Set<string>();

  constructor(opts: CheckOptions = {}) {
    this.max = opts.maxProblems ?? 1000;
  }

  problem(msg: string): void {
    if (this.problems.length < this.max) this.problems.push(msg);
    else this.dropped++;
  }

  /** Top-level keys other than traceEvents. */
  topLevel(key: string, value: Json): void {
    if (key === 'traceEvents') this.problem(`traceEvents must be an array, got ${show(value)?.slice(0, 40)}`);
    if (key === 'viztracer_metadata' && !isObj(value)) {
      this.problem(`viztracer_metadata must be an object, got ${show(value)}`);
    }
    if (key === 'file_info' && !isObj(value)) this.problem(`file_info must be an object, got ${show(value)}`);
    // Catapult throws "Unit X is not supported" and imports nothing.
    if (key === 'displayTimeUnit' && value !== 'ms' && value !== 'ns') {
      this.problem(`displayTimeUnit must be "ms" or "ns", got ${show(value)}`);
    }
  }

  private track(pid: number, tid: number): Track {
    const k = `${pid}/${tid}`;
    let t = this.tracks.get(k);
    if (!t) {
      t = { pid, tid, slices: [], be: [], lastBeTs: -Infinity, backwards: 0 };
      this.tracks.set(k, t);
    }
    return t;
  }

  /** One element of traceEvents, in file order. */
  event(ev: Json): void {
    const idx = this.n++;
    const at = `event #${idx}`;
    if (!isObj(ev)) {
      this.problem(`${at}: not an object: ${show(ev)?.slice(0, 80)}`);
      return;
    }
    const ph = ev.ph;
    if (typeof ph !== 'string') {
      this.problem(`${at}: ph must be a string, got ${show(ph)}`);
      return;
    }
    if (!KNOWN_PHASES.has(ph)) {
      this.problem(`${at}: unknown phase ph=${show(ph)}`);
      return;
    }
    const name = typeof ev.name === 'string' ? ev.name : undefined;
    const where = `${at} (ph ${ph}${name !== undefined ? ` ${JSON.stringify(name)}` : ''})`;

    // ts: µs, a plain number. Perfetto drops negative ts (v51+); both need it
    // on everything but metadata.
    const ts = ev.ts;
    if (ts === undefined) {
      if (ph !== 'M') {
        this.problem(`${where}: ts is missing`);
        return;
      }
    } else if (!isNum(ts) || ts < 0) {
      this.problem(`${where}: ts must be a non-negative finite number, got ${show(ts)}`);
      return;
    }
    if (ev.dur !== undefined && (!isNum(ev.dur) || ev.dur < 0)) {
      this.problem(`${where}: dur must be a non-negative finite number, got ${show(ev.dur)}`);
      return;
    }

    // pid/tid: numbers. A string pid is a Perfetto-only naming hack that
    // Catapult turns into a separate process next to the numeric one.
    const pid = ev.pid;
    if (!(typeof pid === 'number' && Number.isInteger(pid) && pid >= 0 && pid < 2 ** 32)) {
      this.problem(`${where}: pid must be an integer in [0, 2^32), got ${show(pid)}`);
      return;
    }
    let tid = ev.tid;
    const needsTid = THREAD_PHASES.has(ph) || ((ph === 'i' || ph === 'I') && (ev.s === undefined || ev.s === 't'))
      || (ph === 'M' && ev.name === 'thread_name');
    if (tid === undefined && needsTid) {
      this.problem(`${where}: tid is missing`);
      return;
    }
    if (tid !== undefined && !(typeof tid === 'number' && Number.isInteger(tid) && tid >= 0 && tid < 2 ** 32)) {
      this.problem(`${where}: tid must be an integer in [0, 2^32), got ${show(tid)}`);
      return;
    }
    if (ev.args !== undefined && ev.args !== null && !isObj(ev.args)) {
      this.problem(`${where}: args must be an object, got ${show(ev.args)}`);
      return;
    }
    if (ev.id !== undefined && ev.id2 !== undefined) {
      // Catapult throws "Event has both id and id2" and the import fails.
      this.problem(`${where}: has both id and id2`);
      return;
    }
    const args = isObj(ev.args) ? ev.args : undefined;
    const tsn = ts as number;
    const tidn = tid as number;

    switch (ph) {
      case 'X': {
        if (ev.dur === undefined) {
          this.problem(`${where}: X event without dur`);
          return;
        }
        this.track(pid, tidn).slices.push({ ts: tsn, dur: ev.dur as number, idx, name: name ?? '', x: true });
        return;
      }
      case 'B':
      case 'E': {
        const t = this.track(pid, tidn);
        // Catapult pairs B/E in file order, Perfetto in time order: they
        // agree only if each track's B/E run forward in the file.
        if (tsn < t.lastBeTs) t.backwards++;
        else t.lastBeTs = tsn;
        if (ph === 'B' && name === undefined) this.problem(`${where}: B event without a name`);
        t.be.push({ ph, ts: tsn, idx, name, args });
        return;
      }
      case 'i':
      case 'I':
      case 'R': {
        const s = ev.s;
        if (s !== undefined && s !== 't' && s !== 'p' && s !== 'g') {
          this.problem(`${where}: instant scope s must be "t", "p" or "g", got ${show(s)}`);
          return;
        }
        if (s === undefined || s === 't') this.track(pid, tidn).slices.push({ ts: tsn, dur: 0, idx, name: name ?? '' });
        return;
      }
      case 'C': {
        if (!args || Object.keys(args).length === 0) {
          this.problem(`${where}: counter without args (needs at least one numeric series)`);
          return;
        }
        const bad = Object.entries(args).filter(([, v]) => !isNum(v));
        if (bad.length) {
          this.problem(`${where}: counter series must be finite numbers: ${bad.map(([k, v]) => `${k}=${show(v)}`).join(', ')}`);
          return;
        }
        // Catapult fixes a counter's series from its first sample and
        // silently drops keys that show up later.
        const ck = `${pid}\u0000${ev.cat ?? ''}\u0000${name}${ev.id !== undefined ? `[${String(ev.id)}]` : ''}`;
        const series = this.counterSeries.get(ck);
        if (!series) this.counterSeries.set(ck, new Set(Object.keys(args)));
        else {
          const extra = Object.keys(args).filter((k) => !series.has(k));
          if (extra.length) {
            this.problem(`${where}: counter series ${extra.join(', ')} not in the counter's first sample (Catapult drops them)`);
          }
        }
        return;
      }
      case 'M': {
        if (name === undefined || !KNOWN_METADATA.has(name)) {
          this.problem(`${where}: unknown metadata name ${show(ev.name)}`);
          return;
        }
        if (name === 'process_name' || name === 'thread_name') {
          if (!args || typeof args.name !== 'string' || args.name === '') {
            this.problem(`${where}: ${name} needs a non-empty string args.name, got ${show(ev.args)}`);
          }
        } else if (name === 'process_sort_index' || name === 'thread_sort_index') {
          if (!args || !isNum(args.sort_index)) this.problem(`${where}: ${name} needs numeric args.sort_index`);
        } else if (name === 'process_labels') {
          if (!args || typeof args.labels !== 'string') this.problem(`${where}: process_labels needs string args.labels`);
        }
        return;
      }
      case 'b':
      case 'e':
      case 'n': {
        if (typeof ev.cat !== 'string') {
          this.problem(`${where}: async event without cat`);
          return;
        }
        if (name === undefined) {
          this.problem(`${where}: async event without name`);
          return;
        }
        const key = asyncKey(ev, pid);
        if (key === undefined) {
          this.problem(`${where}: async event without id or id2.{local,global}`);
          return;
        }
        this.async.push({ ph, ts: tsn, idx, name, key: `${ev.cat}\u0000${key}` });
        return;
      }
      case 's':
      case 't':
      case 'f': {
        if (name === undefined) {
          this.problem(`${where}: flow event without name`);
          return;
        }
        const id = ev.id;
        if (typeof id !== 'number' && typeof id !== 'string') {
          this.problem(`${where}: flow event without id`);
          return;
        }
        // Perfetto parses v1 flow string ids as hex (flow_invalid_id).
        if (typeof id === 'string' && !/^(0x)?[0-9a-f]+$/i.test(id)) {
          this.problem(`${where}: flow id ${show(id)} is not a hex string (Perfetto rejects it)`);
          return;
        }
        if (ph === 'f' && ev.bp !== undefined && ev.bp !== 'e') {
          this.problem(`${where}: flow binding point bp must be "e" if given, got ${show(ev.bp)}`);
          return;
        }
        this.flows.push({
          ph, ts: tsn, idx, id: String(id), bp: ev.bp, track: `${pid}/${tidn}`,
          key: JSON.stringify([String(id), ev.cat ?? null, name]),
        });
        return;
      }
      default:
        return; // S/T/F/p, P, N/O/D, v/V, (, ), c: no rules here
    }
  }

  /** After the last event: the rules that need whole tracks. */
  finish(): string[] {
    for (const t of this.tracks.values()) this.checkTrack(t);
    this.checkAsync();
    this.checkFlows();
    const out = this.problems.slice();
    if (this.dropped) out.push(`... and ${this.dropped} more problems`);
    return out;
  }

  private checkTrack(t: Track): void {
    const on = `pid ${t.pid} tid ${t.tid}`;
    if (t.backwards) {
      this.problem(`${on}: ${t.backwards} B/E events go back in time in file order (Catapult pairs B/E in file order)`);
    }
    // Pair B/E in time order; at equal ts Perfetto sorts E first.
    const be = t.be.sort((a, b) => a.ts - b.ts || (a.ph === b.ph ? 0 : a.ph === 'E' ? -1 : 1) || a.idx - b.idx);
    const open: BE[] = [];
    for (const e of be) {
      if (e.ph === 'B') {
        open.push(e);
        continue;
      }
      const b = open.pop();
      if (!b) {
        this.problem(`${on}: E at ts ${e.ts} (event #${e.idx}) has no open B`);
        continue;
      }
      if (e.name !== undefined && e.name !== b.name) {
        this.problem(`${on}: E ${JSON.stringify(e.name)} at ts ${e.ts} (event #${e.idx}) closes B ${JSON.stringify(b.name)} (event #${b.idx})`);
      }
      if (b.args && e.args) {
        const both = Object.keys(e.args).filter((k) => k in b.args!);
        if (both.length) this.problem(`${on}: B (event #${b.idx}) and E (event #${e.idx}) both set args ${both.join(', ')}`);
      }
      t.slices.push({ ts: b.ts, dur: e.ts - b.ts, idx: b.idx, name: b.name ?? '' });
    }
    for (const b of open) this.problem(`${on}: B ${JSON.stringify(b.name)} at ts ${b.ts} (event #${b.idx}) is never closed by an E`);
    t.be = [];

    // Nesting: a slice that starts inside another must end inside it.
    // Start order, longer first on ties, as Perfetto sorts them.
    const sorted = t.slices.sort((a, b) => a.ts - b.ts || b.dur - a.dur || a.idx - b.idx);
    const stack: Slice[] = [];
    const kept: Slice[] = [];
    const top: Slice[] = [];
    for (const s of sorted) {
      while (stack.length && endsAtOrBefore(stack[stack.length - 1]!, s.ts)) stack.pop();
      const parent = stack[stack.length - 1];
      if (parent && endsAfter(s, parent)) {
        this.problem(
          `${on}: slice ${JSON.stringify(s.name)} (event #${s.idx}, ts ${s.ts}, dur ${s.dur}) starts inside ` +
          `${JSON.stringify(parent.name)} (event #${parent.idx}, ts ${parent.ts}, dur ${parent.dur}) but ends after it`,
        );
        continue; // Perfetto drops (v51-56) or spills (v57+) it
      }
      if (stack.length >= MAX_DEPTH) {
        this.problem(`${on}: slice ${JSON.stringify(s.name)} (event #${s.idx}) nests deeper than ${MAX_DEPTH}`);
        continue;
      }
      if (!parent) top.push(s);
      stack.push(s);
      kept.push(s);
    }
    t.sorted = kept;
    t.topLevel = top;
    t.slices = [];
  }

  private checkAsync(): void {
    // Catapult: sort by ts (stable), group by cat + scoped id; an e closes the
    // innermost open b of the same name, and anything opened after it that
    // is still open becomes unmatched.
    const byKey = new Map<string, AsyncEv[]>();
    for (const a of this.async.sort((x, y) => x.ts - y.ts || x.idx - y.idx)) {
      let l = byKey.get(a.key);
      if (!l) byKey.set(a.key, (l = []));
      l.push(a);
    }
    for (const [key, evs] of byKey) {
      const label = key.replace('\u0000', ' id ');
      const stack: AsyncEv[] = [];
      for (const a of evs) {
        if (a.ph === 'b') stack.push(a);
        else if (a.ph === 'e') {
          let i = stack.length - 1;
          while (i >= 0 && stack[i]!.name !== a.name) i--;
          if (i < 0) {
            this.problem(`async ${label}: e ${JSON.stringify(a.name)} at ts ${a.ts} (event #${a.idx}) has no open b`);
            continue;
          }
          for (const orphan of stack.splice(i).slice(1)) {
            this.problem(`async ${label}: b ${JSON.stringify(orphan.name)} (event #${orphan.idx}) is still open when its parent ${JSON.stringify(a.name)} ends at ts ${a.ts}`);
          }
        }
      }
      for (const b of stack) this.problem(`async ${label}: b ${JSON.stringify(b.name)} at ts ${b.ts} (event #${b.idx}) is never closed by an e`);
    }
    this.async = [];
  }

  private checkFlows(): void {
    const open = new Map<string, FlowEv>();
    for (const f of this.flows.sort((x, y) => x.ts - y.ts || x.idx - y.idx)) {
      const t = this.tracks.get(f.track);
      const at = `flow id ${f.id}: ${f.ph} at ts ${f.ts} (event #${f.idx})`;
      if (f.ph === 's') {
        if (open.has(f.key)) {
          this.problem(`${at} starts a flow that is already open (event #${open.get(f.key)!.idx})`);
          continue;
        }
        if (!enclosing(t, f.ts)) {
          this.problem(`${at} is not inside any slice on its thread, so it binds to nothing`);
          continue;
        }
        open.set(f.key, f);
        continue;
      }
      const start = open.get(f.key);
      if (!start) {
        this.problem(`${at} has no open flow start (s) with that id, cat and name`);
        continue;
      }
      open.delete(f.key);
      const bindEnclosing = f.ph === 't' || f.bp === 'e';
      const bound = bindEnclosing ? enclosing(t, f.ts) : nextSlice(t, f.ts, f.idx);
      if (!bound) {
        this.problem(`${at} binds to no slice (${bindEnclosing ? 'no enclosing slice' : 'no slice starts after it'} on its thread)`);
        continue;
      }
      if (f.ph === 't') open.set(f.key, f);
    }
    for (const f of open.values()) {
      this.problem(`flow id ${f.id}: ${f.ph} at ts ${f.ts} (event #${f.idx}) is never finished by an f`);
    }
    this.flows = [];
  }
}

function asyncKey(ev: Ev, pid: number): string | undefined {
  const scope = typeof ev.scope === 'string' ? ev.scope : '';
  if (typeof ev.id === 'string' || typeof ev.id === 'number') return `${scope}:${String(ev.id)}`;
  if (isObj(ev.id2)) {
    if (ev.id2.global !== undefined) return `${scope}:global:${String(ev.id2.global)}`;
    if (ev.id2.local !== undefined) return `${scope}:local:${pid}:${String(ev.id2.local)}`;
  }
  return undefined;
}

/** The outermost slice on the track whose closed interval holds ts. */
function enclosing(t: Track | undefined, ts: number): Slice | undefined {
  const top = t?.topLevel;
  if (!top?.length) return undefined;
  let lo = 0, hi = top.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (top[mid]!.ts <= ts) lo = mid + 1;
    else hi = mid;
  }
  const s = top[lo - 1];
  return s && !sumGreater(ts, 0, s.ts, s.dur) ? s : undefined;
}

/**
 * The slice an f without bp:"e" binds to: the next one to start on its thread.
 * At the same ts, Catapult takes only slices that come later in the file, and
 * Perfetto sorts X events ahead of the flow, so only a later B counts.
 */
function nextSlice(t: Track | undefined, ts: number, idx: number): Slice | undefined {
  const all = t?.sorted;
  if (!all?.length) return undefined;
  let lo = 0, hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (all[mid]!.ts < ts) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < all.length; i++) {
    const s = all[i]!;
    if (s.ts > ts || (!s.x && s.idx > idx)) return s;
  }
  return undefined;
}

/** Container rules that need the raw text: how the file starts. */
function checkStart(head: string, problems: string[]): 'object' | 'array' | undefined {
  if (head.charCodeAt(0) === 0xfeff) {
    problems.push('file starts with a byte order mark (Perfetto does not detect the format)');
    return undefined;
  }
  const s = head.trimStart();
  if (s.startsWith('{')) {
    if (!/^\{\s*"/.test(s) && !/^\{\s*$/.test(s)) problems.push('object-form file must start with {" (a quoted key)');
    return 'object';
  }
  if (s.startsWith('[')) {
    // Perfetto detects the array form by [{" at the start.
    if (!/^\[\s*(\{\s*("|$)|$)/.test(s)) problems.push('array-form file must start with [{" (an event object)');
    return 'array';
  }
  problems.push(`file must start with { or [, starts with ${JSON.stringify(s.slice(0, 20))}`);
  return undefined;
}

function feedContainer(c: TraceChecker, root: Json, problems: string[]): void {
  if (Array.isArray(root)) {
    for (const ev of root) c.event(ev);
    return;
  }
  if (!isObj(root)) {
    problems.push(`top level must be an object or an array, got ${show(root)}`);
    return;
  }
  if (!('traceEvents' in root)) problems.push('object-form file has no traceEvents');
  for (const [k, v] of Object.entries(root)) {
    if (k === 'traceEvents') {
      if (Array.isArray(v)) for (const ev of v) c.event(ev);
      else c.topLevel(k, v);
    } else c.topLevel(k, v);
  }
}

/**
 * Validate a whole trace given as text (checked byte-level too) or as an
 * already parsed object (container start rules are then skipped).
 */
export function validateTrace(input: string | object, opts: CheckOptions = {}): string[] {
  const problems: string[] = [];
  let root: Json;
  if (typeof input === 'string') {
    const form = checkStart(input.slice(0, 64), problems);
    if (!form) return problems;
    try {
      root = JSON.parse(input) as Json;
    } catch (err) {
      // The spec lets an array-form file end without "]" (a tracer that died
      // mid-write); Catapult and Perfetto both repair that. An object-form
      // file must be complete.
      const repaired = form === 'array' ? tryRepairArray(input) : undefined;
      if (repaired === undefined) {
        const what = form === 'object' ? 'not valid JSON (object form must be complete)' : 'not valid JSON';
        problems.push(`${what}: ${(err as Error).message}`);
        return problems;
      }
      root = repaired;
    }
  } else {
    root = input as Json;
  }
  const c = new TraceChecker(opts);
  feedContainer(c, root, problems);
  return problems.concat(c.finish());
}

function tryRepairArray(text: string): Json | undefined {
  const t = text.trimEnd().replace(/,$/, '');
  try {
    return JSON.parse(`${t}]`) as Json;
  } catch {
    return undefined;
  }
}

/**
 * Validate a trace file without holding it in memory: the top-level container
 * is scanned byte by byte and only one event at a time is parsed.
 */
export async function validateTraceFile(path: string, opts: CheckOptions = {}): Promise<string[]> {
  const problems: string[] = [];
  const c = new TraceChecker(opts);
  const scan = new ContainerScanner(
    (ev) => c.event(ev),
    (k, v) => c.topLevel(k, v),
  );
  let first = true;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    if (first) {
      first = false;
      if (!checkStart(chunk.subarray(0, 64).toString('utf8'), problems)) return problems;
    }
    const err = scan.feed(chunk);
    if (err) {
      problems.push(err.startsWith('not valid JSON') ? err : `not valid JSON: ${err}`);
      return problems;
    }
  }
  if (first) return ['file is empty'];
  const err = scan.end();
  if (err) return problems.concat(err);
  if (scan.form === 'object' && !scan.keys.has('traceEvents')) problems.push('object-form file has no traceEvents');
  return problems.concat(c.finish());
}

/**
 * Splits a JSON trace into its top-level pieces as bytes arrive: each element
 * of traceEvents (or of the root array) and each other top-level key's value
 * are handed over parsed, one at a time. It tracks strings and nesting only;
 * JSON.parse judges each piece.
 */
class ContainerScanner {
  form: 'object' | 'array' | undefined;
  /** Top-level keys seen (object form). */
  keys = new Set<string>();
  private depth = 0;
  private inString = false;
  private escape = false;
  private pieces: Buffer[] = [];       // bytes of the value being collected
  private collecting = false;
  private collectDepth = 0;            // depth at which the value started
  private key: string | undefined;     // current top-level key (object form)
  private keyBuf: Buffer[] = [];
  private readingKey = false;
  private inEvents = false;
  private done = false;
  private offset = 0;
  // What may come next between values: anything, a comma or the end of the
  // container ('need'), a value after a comma ('comma'), ':' after a key.
  private sep: 'none' | 'need' | 'comma' | 'colon' = 'none';

  constructor(
    private onEvent: (ev: Json) => void,
    private onKey: (key: string, value: Json) => void,
  ) {}

  feed(buf: Buffer): string | undefined {
    let start = this.collecting || this.readingKey ? 0 : -1;
    for (let i = 0; i < buf.length; i++) {
      const ch = buf[i]!;
      if (this.inString) {
        if (this.escape) this.escape = false;
        else if (ch === 0x5c) this.escape = true;
        else if (ch === 0x22) {
          this.inString = false;
          if (this.readingKey) {
            this.keyBuf.push(buf.subarray(start, i + 1));
            this.readingKey = false;
            try {
              this.key = JSON.parse(Buffer.concat(this.keyBuf).toString('utf8')) as string;
              this.keys.add(this.key);
            } catch {
              return `bad top-level key at byte ${this.offset + i}`;
            }
            this.keyBuf = [];
            this.sep = 'colon';
            start = -1;
          }
        }
        continue;
      }
      if (ch === 0x20 || ch === 0x0a || ch === 0x0d || ch === 0x09) continue;
      if (this.done) return `unexpected data after the end of the trace at byte ${this.offset + i}`;
      if (this.form === undefined) {
        if (ch === 0x7b) this.form = 'object';
        else if (ch === 0x5b) {
          this.form = 'array';
          this.inEvents = true;
        } else return 'file must start with { or [';
        this.depth = 1;
        continue;
      }
      // Where values start: at depth 1 in an object (after ':'), at depth 1
      // of the root array, or at depth 2 inside traceEvents.
      const valueDepth = this.form === 'array' ? 1 : this.inEvents ? 2 : 1;
      if (!this.collecting) {
        const at = `at byte ${this.offset + i}`;
        if (ch === 0x2c) {
          if (this.sep !== 'need') return `unexpected , ${at}`;
          this.sep = 'comma';
          continue;
        }
        if (ch === 0x3a) {
          if (this.sep !== 'colon') return `unexpected : ${at}`;
          this.sep = 'none';
          continue;
        }
        if (this.sep === 'colon') return `expected : ${at}`;
        if (ch === 0x5d || ch === 0x7d) {
          if (this.sep === 'comma') return `trailing comma before ${String.fromCharCode(ch)} ${at}`;
          // closing the events array or the root
          this.sep = 'need';
          this.depth--;
          if (this.inEvents && this.form === 'object' && this.depth === 1) this.inEvents = false;
          else if (this.depth === 0) this.done = true;
          continue;
        }
        if (this.sep === 'need') return `missing comma ${at}`;
        if (this.form === 'object' && this.depth === 1 && this.key === undefined) {
          if (ch !== 0x22) return `expected a key ${at}`;
          this.readingKey = true;
          this.inString = true;
          start = i;
          continue;
        }
        if (this.form === 'object' && this.depth === 1 && this.key === 'traceEvents' && ch === 0x5b) {
          this.inEvents = true;
          this.key = undefined;
          this.depth = 2;
          continue;
        }
        if (this.depth !== valueDepth) return `unexpected ${String.fromCharCode(ch)} ${at}`;
        this.collecting = true;
        this.collectDepth = this.depth;
        start = i;
      }
      if (ch === 0x22) this.inString = true;
      else if (ch === 0x7b || ch === 0x5b) this.depth++;
      else if (ch === 0x7d || ch === 0x5d || ch === 0x2c) {
        if (ch !== 0x2c) this.depth--;
        if (this.depth < this.collectDepth || (ch === 0x2c && this.depth === this.collectDepth)) {
          // a scalar ended at , ] or }: the delimiter is not part of it
          this.pieces.push(buf.subarray(start, i));
          const err = this.emit();
          if (err) return err;
          if (ch !== 0x2c) {
            this.depth++; // let the closing bracket be handled as structure
            i--;
          } else this.sep = 'comma';
          start = -1;
          continue;
        }
        if (this.depth === this.collectDepth) {
          this.pieces.push(buf.subarray(start, i + 1));
          const err = this.emit();
          if (err) return err;
          start = -1;
        }
      }
    }
    if (this.collecting && start >= 0) this.pieces.push(buf.subarray(start));
    if (this.readingKey && start >= 0) this.keyBuf.push(buf.subarray(start));
    this.offset += buf.length;
    return undefined;
  }

  private emit(): string | undefined {
    const text = Buffer.concat(this.pieces).toString('utf8');
    this.pieces = [];
    this.collecting = false;
    this.sep = 'need';
    let v: Json;
    try {
      v = JSON.parse(text) as Json;
    } catch (err) {
      return `not valid JSON near byte ${this.offset}: ${(err as Error).message}`;
    }
    if (this.inEvents) this.onEvent(v);
    else {
      this.onKey(this.key!, v);
      this.key = undefined;
    }
    return undefined;
  }

  end(): string | undefined {
    if (this.done) return undefined;
    // As in validateTrace: an unterminated array form is allowed.
    if (this.form === 'array' && !this.inString && this.depth === 1 && !this.collecting) {
      this.done = true;
      return undefined;
    }
    return `not valid JSON (${this.form ?? 'object'} form must be complete): the trace ends early (truncated?)`;
  }
}
