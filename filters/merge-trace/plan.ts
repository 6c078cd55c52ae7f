// The merge plan: everything decided before the first output byte, from the
// pass-1 summaries alone. Which inputs are used, what happens to each one's
// ts, pid and tid (--align, --shift, --no-negative, the id maps), the output
// object's members, and the warnings about time ranges that do not meet.
import { entryMap, mergeFileInfo, mergeMetadata, objectText, type ReadSource } from './metadata.js';
import { cutShortWarning, type TraceSummary } from './scan.js';
import { DataError } from '../../lib/errors.js';

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
  /** Embed the sources the events name, read through this (--embed-sources). */
  readSource?: ReadSource;
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
  members: Array<{ rawKey: string; raw: Uint8Array | string | undefined }>;
  warnings: string[];
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
      } else warnings.push(`${f.name}: no event has a ts: nothing to align`);
    }
    const shift = opts.shifts.get(f.name);
    if (shift !== undefined) t.shiftBy = shift;
    const pid = idMapFor(opts.pids, f.name);
    const tid = idMapFor(opts.tids, f.name);
    if (pid !== undefined) t.pid = pid;
    if (tid !== undefined) t.tid = tid;
    return t;
  });
  if (opts.noNegative) {
    let lowest = Infinity;
    files.forEach((f, i) => {
      if (Number.isFinite(f.minTs)) lowest = Math.min(lowest, moved(transforms[i]!, f.minTs));
    });
    if (lowest < 0) for (const t of transforms) t.liftBy = -lowest;
  }
  // Every event's ts lies between its file's extremes, and the transforms
  // keep order: extremes in range mean every ts stays a JSON number.
  files.forEach((f, i) => {
    const t = transforms[i]!;
    for (const v of [f.minTs, f.maxEnd]) {
      if (!Number.isFinite(v)) continue;
      let x = moved(t, v);
      if (t.liftBy !== undefined) x = x + t.liftBy;
      if (!Number.isFinite(x)) throw new DataError(`${f.name}: its ts ${v} moved by ${describeMove(t)} is out of the range of numbers: no such trace can be written`);
    }
  });
  if (!opts.align) warnings.push(...overlapWarnings(files, transforms));

  const first = files[0]!;
  const meta = mergeMetadata(files, opts.version);
  const info = mergeFileInfo(files, opts.readSource);
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
  for (const f of all) {
    for (const w of f.warnings) warnings.push(`${f.name}: ${w}`);
    const cut = cutShortWarning(f);
    if (cut !== undefined) warnings.push(`${f.name}: ${cut}`);
  }
  return { files, transforms, members, warnings };
}

function describeMove(t: FileTransform): string {
  const parts: string[] = [];
  if (t.alignBy !== undefined) parts.push(`--align (-${t.alignBy})`);
  if (t.shiftBy !== undefined) parts.push(`--shift ${t.shiftBy}`);
  if (t.liftBy !== undefined) parts.push(`--no-negative (+${t.liftBy})`);
  return parts.join(', ');
}

// The same float operations, in the same order, as on every event: the
// minimum maps to the minimum, so the lifted minimum is exactly 0.
function moved(t: FileTransform, v: number): number {
  if (t.alignBy !== undefined) v = v - t.alignBy;
  if (t.shiftBy !== undefined) v = v + t.shiftBy;
  return v;
}

function idMapFor(maps: IdMaps, name: string): Map<number, number> | undefined {
  const own = maps.byFile.get(name);
  if (own === undefined) return maps.all.size > 0 ? maps.all : undefined;
  if (maps.all.size === 0) return own;
  return new Map([...maps.all, ...own]);
}

/** Inputs whose time range meets no other input's: usually a clock mismatch. */
function overlapWarnings(files: TraceSummary[], transforms: FileTransform[]): string[] {
  const ranges = files
    .map((f, i) => ({ f, lo: moved(transforms[i]!, f.minTs), hi: moved(transforms[i]!, f.maxEnd) }))
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

/** Python parses `1.0` and `1e3` as float, `10` as int; the difference shows in its output. */
function isFloatText(t: string): boolean {
  return t.includes('.') || t.includes('e') || t.includes('E');
}

function numberOf(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const c = raw.charCodeAt(0);
  if (!(c === 0x2d || (c >= 0x30 && c <= 0x39))) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) ? n : undefined;
}
