// merge-trace's logic: VizTracer's `--combine` (ReportBuilder.combine_json)
// done in two streaming passes, so inputs of any size merge in bounded memory.
//
// Pass 1 (`scanTrace`) reads each input once with the validating scanner and
// keeps only what the merge needs: the first file's top-level members, each
// file's viztracer_metadata and file_info, the byte range of its events, their
// count and their time range. Only then is it known which inputs are usable
// and what the merged metadata is, and the output can start.
// Pass 2 (`writeMerged`) writes the first file's object with the merged
// members in place, and streams every file's events through: as one raw byte
// range when nothing in them changes (the common case: as fast as a copy), or
// through the scanner, rewriting only the numbers of `ts`, `pid` and `tid`
// where --align, --shift or an id map asks for it. Everything else in an
// event keeps its exact bytes.
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { JsonScanner, JsonSyntaxError, keyIs, keyText, objectEntries, type ScanHooks } from '../lib/json-stream.js';

export type Form = 'object' | 'array' | 'ndjson';

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
  /** Object form: top-level members in order (traceEvents with raw ''); kept for the first input only. */
  top: Array<{ key: string; rawKey: string; raw: Buffer | undefined }>;
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
  bytes: number;
}

export interface ScanOptions {
  /** Keep every top-level member (the first input's are the output's). */
  keepTop: boolean;
  /** Collect X event names, for --embed-sources. */
  embedSources: boolean;
}

const TOP_KEYS_WANTED = new Set(['viztracer_metadata', 'file_info']);

/** Thrown from hooks to stop a scan early; not an error. */
class StopScan extends Error {}

class NotATrace extends Error {}

/**
 * Pass 1 over one input. Never throws for bad data: an input that cannot be
 * used comes back with `usable: false` and a message.
 */
export class TraceScan implements ScanHooks {
  readonly summary: TraceSummary;
  private readonly sc: JsonScanner;
  private chunk: Buffer = Buffer.alloc(0);
  private base = 0;
  private firstKind = 0;
  private ndjson = false;
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
  private field = 0;
  private ts = NaN;
  private tsText = '';
  private dur = NaN;
  private ph: string | undefined;
  private evName: string | undefined;
  // The first top-level object, until we know whether it is a trace object or an NDJSON event.
  private firstObj: { start: number; end: number; ts: number; tsText: string; dur: number; ph?: string; name?: string } | undefined;
  private firstHasPh = false;

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
      bytes: 0,
      xNames: opts.embedSources ? new Set() : undefined,
    };
    this.sc = new JsonScanner(this, 3);
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
          this.resetEvent(pos);
        }
        return;
      }
      // A second top-level value: the input is NDJSON, one event per line.
      if (this.firstKind !== 0x7b || this.summary.hasTraceEvents || this.ndjson === false && this.firstObj === undefined) {
        throw new JsonSyntaxError('more data after the end of the JSON value', pos, this.sc.line);
      }
      if (!this.ndjson) this.becomeNdjson();
      if (c !== 0x7b) throw new JsonSyntaxError('a line of NDJSON trace that is not an object', pos, this.sc.line);
      this.resetEvent(pos);
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
    if (depth === this.evDepth) this.resetEvent(pos);
  }

  key(depth: number, b: Buffer, s: number, e: number): boolean {
    if (depth === 1 && this.firstKind === 0x7b && !this.ndjson && this.sc.topValues === 1) {
      this.topKey = keyText(b, s, e);
      this.topRawKey = b.toString('utf8', s, e);
      if (this.topKey === 'ph') this.firstHasPh = true;
      // The first object might be an NDJSON event: watch its fields too.
      return this.wantField(b, s, e);
    }
    if (this.inEvent && depth === this.evDepth + 1) return this.wantField(b, s, e);
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

  end(depth: number, pos: number, text: string | undefined): void {
    if (depth === 0) {
      if (this.firstKind === 0x7b && !this.ndjson) {
        this.firstObj = { start: this.evStart, end: pos, ts: this.ts, tsText: this.tsText, dur: this.dur, ph: this.ph, name: this.evName };
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
      if (text !== undefined) this.fieldValue(text);
      return;
    }
    const ev = this.evDepth;
    if (depth === ev && this.inEvent) this.eventDone(pos);
    else if (depth === ev + 1 && text !== undefined && this.inEvent) this.fieldValue(text);
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

  private resetEvent(pos: number): void {
    this.inEvent = true;
    this.evStart = pos;
    this.ts = NaN;
    this.dur = NaN;
    this.ph = undefined;
    this.evName = undefined;
  }

  private fieldValue(text: string): void {
    switch (this.field) {
      case 1:
        if (isNumberText(text)) {
          this.ts = Number(text);
          this.tsText = text;
        }
        break;
      case 2:
        if (isNumberText(text)) this.dur = Number(text);
        break;
      case 3:
        if (text.charCodeAt(0) === 0x22) this.ph = JSON.parse(text) as string;
        break;
      case 4:
        if (text.charCodeAt(0) === 0x22) this.evName = JSON.parse(text) as string;
        break;
    }
    this.field = 0;
  }

  private eventDone(pos: number): void {
    const s = this.summary;
    this.inEvent = false;
    if (s.events++ === 0) s.eventsStart = this.evStart;
    s.eventsEnd = pos;
    const ts = this.ts;
    if (Number.isFinite(ts)) {
      if (ts < s.minTs) {
        s.minTs = ts;
        s.minTsFloat = isFloatText(this.tsText);
      }
      const end = Number.isFinite(this.dur) ? ts + this.dur : ts;
      if (end > s.maxEnd) s.maxEnd = end;
    }
    if (s.xNames !== undefined && this.ph === 'X' && this.evName !== undefined) s.xNames.add(this.evName);
  }

  private becomeNdjson(): void {
    const f = this.firstObj!;
    this.ndjson = true;
    this.summary.form = 'ndjson';
    this.summary.top = [];
    this.summary.meta = undefined;
    this.summary.fileInfo = undefined;
    this.sc.interest = 1;
    this.evStart = f.start;
    this.ts = f.ts;
    this.tsText = f.tsText;
    this.dur = f.dur;
    this.ph = f.ph;
    this.evName = f.name;
    this.eventDone(f.end);
  }

  feed(chunk: Buffer): void {
    this.chunk = chunk;
    this.sc.feed(chunk);
    if (this.capturing) this.capParts.push(Buffer.from(chunk.subarray(Math.max(this.capFrom, this.base) - this.base)));
    this.base += chunk.length;
    this.summary.bytes = this.base;
  }

  /** End of input: decides what of it is usable. */
  finish(): TraceSummary {
    const s = this.summary;
    const complete = this.sc.finish();
    if (this.sc.topValues === 0) return this.unusable('empty (no JSON in it)');
    if (this.firstKind === 0x7b && !this.ndjson) {
      if (!complete) return this.unusable('ends before its JSON object does (truncated?)');
      if (!s.hasTraceEvents && this.firstHasPh) {
        // One object that is an event, not a trace: a one-line NDJSON file.
        this.becomeNdjson();
      }
      return s;
    }
    if (!complete) {
      if (s.form === 'array' && this.sc.atBoundary && this.sc.openDepth === 1) return s; // the optional `]`
      s.warnings.push(
        `ends inside an event at byte ${this.sc.position} (cut short?): kept the ${s.events} complete event${s.events === 1 ? '' : 's'} before it`,
      );
    }
    return s;
  }

  /** Records why the input cannot be used. */
  unusable(why: string, line?: number): TraceSummary {
    this.summary.usable = false;
    this.summary.problem = line === undefined ? `${this.summary.name}: ${why}` : `${this.summary.name}:${line}: ${why}`;
    return this.summary;
  }

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

/** Python parses `1.0` and `1e3` as float, `10` as int; the difference shows in its output. */
function isFloatText(t: string): boolean {
  return t.includes('.') || t.includes('e') || t.includes('E');
}

function isNumberText(t: string): boolean {
  const c = t.charCodeAt(0);
  return c === 0x2d || (c >= 0x30 && c <= 0x39);
}

/** Pass 1 over a stream. `tee` sees every byte (to spool a pipe for pass 2). */
export async function scanTrace(name: string, stream: Readable, opts: ScanOptions, tee?: (b: Buffer) => void): Promise<TraceSummary> {
  const scan = new TraceScan(name, opts);
  try {
    for await (const chunk of stream) {
      const b = chunk as Buffer;
      tee?.(b);
      scan.feed(b);
    }
  } catch (e) {
    stream.destroy();
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') return scan.unusable(`not valid gzip data (${(e as Error).message})`);
    if (code === 'EISDIR') return scan.unusable('is a directory');
    if (code !== undefined && !(e instanceof JsonSyntaxError)) return scan.unusable((e as Error).message);
    return scan.fail(e);
  }
  try {
    return scan.finish();
  } catch (e) {
    return scan.fail(e);
  }
}

// ---------------------------------------------------------------------------
// The merge plan: everything decided before the first output byte.

export interface IdMaps {
  /** HOST -> NS for every input. */
  all: Map<number, number>;
  /** HOST -> NS for one input (by the name it was given as). */
  byFile: Map<string, Map<number, number>>;
}

export interface MergeOptions {
  align: boolean;
  noNegative: boolean;
  /** µs to add to every ts of the named input. */
  shifts: Map<string, number>;
  pids: IdMaps;
  tids: IdMaps;
  embedSources: boolean;
  /** What to put in viztracer_metadata.version. */
  version: string;
}

/** What happens to one input's events in pass 2. */
export interface FileTransform {
  /** Subtracted first (--align), as VizTracer does. */
  alignBy?: number;
  /** Whether alignBy is a Python float (then every shifted ts is one too). */
  alignFloat?: boolean;
  /** Added next (--shift). */
  shiftBy?: number;
  /** Added last (--no-negative). */
  liftBy?: number;
  pid?: Map<number, number>;
  tid?: Map<number, number>;
}

export interface MergePlan {
  files: TraceSummary[];
  transforms: FileTransform[];
  /** The output object's members in order; traceEvents is streamed, the rest are text. */
  members: Array<{ rawKey: string; raw: Buffer | string | undefined }>;
  warnings: string[];
  events: number;
}

/** Python's truthiness of a JSON value (VizTracer tests `if meta.get("overflow")`). */
export function pyTruthy(rawJson: string): boolean {
  const v: unknown = JSON.parse(rawJson.replace(/^-?(NaN|Infinity)$/, '1'));
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

function entryMap(entries: Entry[] | undefined): Map<string, Entry> {
  const m = new Map<string, Entry>();
  for (const e of entries ?? []) m.set(e.key, e);
  return m;
}

/** Serialises members the way Python's json.dumps does: `{"k": v, "k2": v2}`. */
function objectText(m: Map<string, Entry>): string {
  const parts: string[] = [];
  for (const e of m.values()) parts.push(`${e.rawKey}: ${e.raw}`);
  return `{${parts.join(', ')}}`;
}

function numberOf(raw: string | undefined): number | undefined {
  if (raw === undefined || !isNumberText(raw)) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}

/** Merges viztracer_metadata as combine_json does. */
export function mergeMetadata(files: TraceSummary[], version: string): Map<string, Entry> {
  const meta = entryMap(files[0]!.meta);
  for (const f of files.slice(1)) {
    const m = entryMap(f.meta);
    const overflow = m.get('overflow');
    if (overflow !== undefined && pyTruthy(overflow.raw)) set(meta, 'overflow', 'true');
    const base = m.get('baseTimeNanoseconds');
    if (base !== undefined && base.raw !== 'null') set(meta, 'baseTimeNanoseconds', base.raw);
  }
  set(meta, 'version', JSON.stringify(version));
  return meta;
}

function set(m: Map<string, Entry>, key: string, raw: string): void {
  const old = m.get(key);
  // Like a Python dict: replacing keeps the member's place, a new one goes last.
  m.set(key, { key, rawKey: old?.rawKey ?? JSON.stringify(key), raw });
}

/** Merges file_info as combine_json does (later files win), optionally embedding sources. */
export function mergeFileInfo(files: TraceSummary[], embedSources: boolean): Map<string, Entry> {
  const info = entryMap(files[0]!.fileInfo);
  const sub = (fi: Map<string, Entry>, k: string): Map<string, Entry> => {
    const e = fi.get(k);
    return e !== undefined && e.raw.startsWith('{') ? entryMap(objectEntries(Buffer.from(e.raw))) : new Map();
  };
  const filesMap = sub(info, 'files');
  const funcs = sub(info, 'functions');
  for (const f of files.slice(1)) {
    if (f.fileInfo === undefined) continue;
    const fi = entryMap(f.fileInfo);
    for (const [k, e] of sub(fi, 'files')) filesMap.set(k, { ...e, rawKey: filesMap.get(k)?.rawKey ?? e.rawKey });
    for (const [k, e] of sub(fi, 'functions')) funcs.set(k, { ...e, rawKey: funcs.get(k)?.rawKey ?? e.rawKey });
  }
  if (embedSources) embed(files, filesMap, funcs);
  set(info, 'files', objectText(filesMap));
  set(info, 'functions', objectText(funcs));
  return info;
}

// VizTracer's name pattern for Python functions: "qualname (path:lineno)".
const FUNC_RE = /^.*\((.*):([0-9]+)\)/;

/**
 * VizTracer's prepare_json pass: for each X event name not yet in functions
 * that names a readable source file, embed that file's text. Reads the local
 * disk, so it is opt-in. Frozen modules (`<frozen x>`) cannot be resolved
 * outside Python and are left out.
 */
function embed(files: TraceSummary[], filesMap: Map<string, Entry>, funcs: Map<string, Entry>): void {
  const unreadable = new Set<string>();
  for (const f of files) {
    for (const name of f.xNames ?? []) {
      if (funcs.has(name)) continue;
      const m = FUNC_RE.exec(name);
      if (m === null) continue;
      const path = m[1]!;
      const lineno = Number(m[2]);
      if (!filesMap.has(path)) {
        if (unreadable.has(path)) continue;
        let text: string;
        try {
          if (path.startsWith('<')) throw new Error('not a file');
          // tokenize.open reads with universal newlines.
          text = readFileSync(path, 'utf8').replace(/\r\n?/g, '\n');
        } catch {
          unreadable.add(path);
          continue;
        }
        const lines = text.split('\n').length - 1;
        filesMap.set(path, { key: path, rawKey: JSON.stringify(path), raw: JSON.stringify([text, lines]).replace(/,(?=\d+\]$)/, ', ') });
      }
      funcs.set(name, { key: name, rawKey: JSON.stringify(name), raw: `[${JSON.stringify(path)}, ${lineno}]` });
    }
  }
}

/** Decides the output: merged members, each input's transform, warnings. */
export function planMerge(all: TraceSummary[], opts: MergeOptions): MergePlan {
  const files = all.filter((f) => f.usable);
  if (files.length === 0) throw new Error('planMerge needs a usable input');
  const warnings: string[] = [];
  const transforms: FileTransform[] = files.map((f) => {
    const t: FileTransform = {};
    if (opts.align) {
      const markerRaw = entryMap(f.meta).get('sync_marker')?.raw;
      const marker = numberOf(markerRaw);
      if (marker !== undefined) {
        t.alignBy = marker;
        t.alignFloat = isFloatText(markerRaw!);
      } else if (Number.isFinite(f.minTs)) {
        t.alignBy = f.minTs;
        t.alignFloat = f.minTsFloat;
      }
      else warnings.push(`${f.name}: no event has a ts: nothing to align`);
    }
    const shift = opts.shifts.get(f.name);
    if (shift !== undefined) t.shiftBy = shift;
    const pid = idMapFor(opts.pids, f.name);
    const tid = idMapFor(opts.tids, f.name);
    if (pid !== undefined) t.pid = pid;
    if (tid !== undefined) t.tid = tid;
    return t;
  });
  // The same float operations, in the same order, as on every event: the
  // minimum maps to the minimum, so the lifted minimum is exactly 0.
  const moved = (f: TraceSummary, t: FileTransform, v: number): number => {
    if (t.alignBy !== undefined) v = v - t.alignBy;
    if (t.shiftBy !== undefined) v = v + t.shiftBy;
    return v;
  };
  if (opts.noNegative) {
    let lowest = Infinity;
    files.forEach((f, i) => {
      if (Number.isFinite(f.minTs)) lowest = Math.min(lowest, moved(f, transforms[i]!, f.minTs));
    });
    if (lowest < 0) for (const t of transforms) t.liftBy = -lowest;
  }
  if (!opts.align) warnings.push(...overlapWarnings(files, transforms, moved));

  const first = files[0]!;
  const meta = mergeMetadata(files, opts.version);
  const info = mergeFileInfo(files, opts.embedSources);
  const members: MergePlan['members'] = [];
  if (!first.hasTraceEvents || first.form !== 'object') members.push({ rawKey: '"traceEvents"', raw: undefined });
  let sawMeta = false;
  let sawInfo = false;
  for (const m of first.form === 'object' ? first.top : []) {
    if (m.key === 'viztracer_metadata') {
      sawMeta = true;
      members.push({ rawKey: m.rawKey, raw: objectText(meta) });
    } else if (m.key === 'file_info') {
      sawInfo = true;
      members.push({ rawKey: m.rawKey, raw: objectText(info) });
    } else {
      members.push({ rawKey: m.rawKey, raw: m.raw });
    }
  }
  if (!sawMeta) members.push({ rawKey: '"viztracer_metadata"', raw: objectText(meta) });
  if (!sawInfo) members.push({ rawKey: '"file_info"', raw: objectText(info) });
  for (const f of all) for (const w of f.warnings) warnings.push(`${f.name}: ${w}`);
  return { files, transforms, members, warnings, events: files.reduce((n, f) => n + f.events, 0) };
}

function idMapFor(maps: IdMaps, name: string): Map<number, number> | undefined {
  const own = maps.byFile.get(name);
  if (own === undefined) return maps.all.size > 0 ? maps.all : undefined;
  if (maps.all.size === 0) return own;
  return new Map([...maps.all, ...own]);
}

/** Inputs whose time range meets no other input's: usually a clock mismatch. */
function overlapWarnings(
  files: TraceSummary[],
  transforms: FileTransform[],
  moved: (f: TraceSummary, t: FileTransform, v: number) => number,
): string[] {
  const ranges = files
    .map((f, i) => ({ f, lo: moved(f, transforms[i]!, f.minTs), hi: moved(f, transforms[i]!, f.maxEnd) }))
    .filter((r) => Number.isFinite(r.lo) && Number.isFinite(r.hi));
  if (ranges.length < 2) return [];
  const alone = ranges.filter((r) => !ranges.some((o) => o !== r && o.lo <= r.hi && r.lo <= o.hi));
  if (alone.length === 0) return [];
  const which = alone.map((r) => `${r.f.name} (ts ${fmtUs(r.lo)} to ${fmtUs(r.hi)} µs)`).join(', ');
  return [
    `${alone.length === 1 ? 'this input overlaps' : 'these inputs overlap'} no other in time: ${which}. ` +
      'Traces of one run that do not overlap were recorded on different clocks (perf needs -k CLOCK_MONOTONIC to match VizTracer; ' +
      '--shift FILE=US corrects a known offset); separate runs can be lined up with --align.',
  ];
}

function fmtUs(v: number): string {
  return v.toFixed(3).replace(/\.?0+$/, '');
}

// ---------------------------------------------------------------------------
// Pass 2.

export interface ByteSink {
  write(b: Buffer): Promise<void>;
}

/** Writes the merged trace. `reopen(i)` gives plan.files[i]'s bytes again from the start. */
export async function writeMerged(plan: MergePlan, sink: ByteSink, reopen: (i: number) => Promise<Readable>): Promise<void> {
  let out = '{';
  let wroteEvents = false;
  for (const [k, m] of plan.members.entries()) {
    out += `${k > 0 ? ', ' : ''}${m.rawKey}: `;
    if (m.raw !== undefined) {
      if (typeof m.raw === 'string') out += m.raw;
      else {
        await sink.write(Buffer.from(out));
        out = '';
        await sink.write(m.raw);
      }
      continue;
    }
    await sink.write(Buffer.from(out + '['));
    out = '';
    for (const [i, f] of plan.files.entries()) {
      if (f.events === 0) continue;
      const t = plan.transforms[i]!;
      const stream = await reopen(i);
      const needScan = f.form === 'ndjson' || t.alignBy !== undefined || t.shiftBy !== undefined || t.liftBy !== undefined || t.pid !== undefined || t.tid !== undefined;
      if (wroteEvents) await sink.write(SEP);
      if (needScan) await rewriteEvents(f, t, stream, sink);
      else await copyRange(f, stream, sink);
      wroteEvents = true;
    }
    out = ']';
  }
  await sink.write(Buffer.from(out + '}'));
}

const SEP = Buffer.from(', ');

async function copyRange(f: TraceSummary, stream: Readable, sink: ByteSink): Promise<void> {
  const from = f.eventsStart;
  const to = f.eventsEnd;
  let base = 0;
  try {
    for await (const chunk of stream) {
      const b = chunk as Buffer;
      const end = base + b.length;
      if (end > from) {
        const s = Math.max(from - base, 0);
        const e = Math.min(to - base, b.length);
        if (e > s) await sink.write(b.subarray(s, e));
      }
      base = end;
      if (base >= to) break;
    }
  } finally {
    stream.destroy();
  }
  if (base < to) throw new ChangedError(f.name);
}

export class ChangedError extends Error {
  constructor(name: string) {
    super(`${name}: changed while being merged (it no longer matches what the first read found)`);
  }
}

const F_TS = 1;
const F_PID = 2;
const F_TID = 3;

/**
 * Streams one input's events through the scanner, joining them with `, `
 * and replacing the numbers of ts/pid/tid where the transform says so.
 */
async function rewriteEvents(f: TraceSummary, t: FileTransform, stream: Readable, sink: ByteSink): Promise<void> {
  const evDepth = f.form === 'object' ? 2 : f.form === 'array' ? 1 : 0;
  const moveTs = t.alignBy !== undefined || t.shiftBy !== undefined || t.liftBy !== undefined;
  let chunk: Buffer = Buffer.alloc(0);
  let base = 0;
  let pieces: Buffer[] = [];
  let count = 0;
  let inTE = f.form !== 'object';
  let topIsTE = false;
  let inEvent = false;
  let cursor = 0;
  let field = 0;
  let pending = -1;
  const emit = (from: number, to: number): void => {
    const s = Math.max(from, base) - base;
    const e = to - base;
    if (e > s) pieces.push(chunk.subarray(s, e));
  };
  const hooks: ScanHooks = {
    start(depth, pos, c) {
      if (depth === 1 && f.form === 'object') {
        inTE = topIsTE && c === 0x5b;
        return;
      }
      if (depth === evDepth && inTE) {
        if (count > 0) pieces.push(SEP);
        inEvent = true;
        cursor = pos;
      } else if (inEvent && depth === evDepth + 1 && field !== 0 && (c === 0x2d || (c >= 0x30 && c <= 0x39))) {
        pending = pos;
      }
    },
    key(depth, b, s, e) {
      if (depth === 1 && f.form === 'object') {
        topIsTE = keyIs(b, s, e, 'traceEvents');
        return false;
      }
      field = 0;
      if (!inEvent || depth !== evDepth + 1) return false;
      if (moveTs && keyIs(b, s, e, 'ts')) field = F_TS;
      else if (t.pid !== undefined && keyIs(b, s, e, 'pid')) field = F_PID;
      else if (t.tid !== undefined && keyIs(b, s, e, 'tid')) field = F_TID;
      return field !== 0;
    },
    end(depth, pos, text) {
      if (pending >= 0 && text !== undefined) {
        emit(cursor, pending);
        pieces.push(Buffer.from(replacement(field, text, t), 'latin1'));
        cursor = pos;
        pending = -1;
        field = 0;
        return;
      }
      if (depth === evDepth && inEvent && inTE) {
        emit(cursor, pos);
        inEvent = false;
        if (++count === f.events) throw new StopScan();
      } else if (depth === 1 && f.form === 'object' && inTE) {
        inTE = false;
      }
    },
  };
  const sc = new JsonScanner(hooks, evDepth + 1);
  sc.trailingComma = f.form === 'array';
  // Stop after the last event pass 1 counted: a cut tail stays out.
  let done = false;
  try {
    for await (const c of stream) {
      chunk = c as Buffer;
      try {
        sc.feed(chunk);
      } catch (e) {
        if (!(e instanceof StopScan)) throw e;
        done = true;
      }
      if (inEvent && !done) {
        const upto = pending >= 0 ? pending : base + chunk.length;
        emit(cursor, upto);
        cursor = upto;
      }
      base += chunk.length;
      if (pieces.length > 0) {
        const b = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
        pieces = [];
        await sink.write(b);
      }
      if (done) break;
    }
  } catch (e) {
    if (e instanceof JsonSyntaxError) throw new ChangedError(f.name);
    throw e;
  } finally {
    stream.destroy();
  }
  if (count !== f.events) throw new ChangedError(f.name);
}

function replacement(field: number, text: string, t: FileTransform): string {
  const v = Number(text);
  if (!Number.isFinite(v)) return text;
  if (field === F_TS) {
    let x = v;
    let float = isFloatText(text);
    if (t.alignBy !== undefined) {
      x = x - t.alignBy;
      float ||= t.alignFloat === true;
    }
    if (t.shiftBy !== undefined) {
      x = x + t.shiftBy;
      float ||= !Number.isInteger(t.shiftBy);
    }
    if (t.liftBy !== undefined) {
      x = x + t.liftBy;
      float ||= !Number.isInteger(t.liftBy);
    }
    const s = String(x);
    // Python writes a float that happens to be whole as `0.0`: same value, same bytes.
    return float && Number.isInteger(x) && Math.abs(x) < 1e16 ? `${s}.0` : s;
  }
  const to = (field === F_PID ? t.pid : t.tid)?.get(v);
  return to === undefined ? text : String(to);
}
