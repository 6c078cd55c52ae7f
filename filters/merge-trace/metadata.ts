// VizTracer's combine_json rules for the members beside the events:
// viztracer_metadata and file_info, kept as source text so that numbers keep
// every digit and the output has Python's separators.
import { objectEntries } from '../../lib/json-stream.js';
import type { Entry, TraceSummary } from './scan.js';

/** The text of a source file, or undefined when it cannot be read. */
export type ReadSource = (path: string) => string | undefined;

/** Python's truthiness of a JSON value (VizTracer tests `if meta.get("overflow")`). */
export function pyTruthy(rawJson: string): boolean {
  const v: unknown = JSON.parse(rawJson.replace(/^-?(NaN|Infinity)$/, '1'));
  if (Array.isArray(v)) return v.length > 0;
  if (v !== null && typeof v === 'object') return Object.keys(v).length > 0;
  return Boolean(v);
}

export function entryMap(entries: Entry[] | undefined): Map<string, Entry> {
  const m = new Map<string, Entry>();
  for (const e of entries ?? []) m.set(e.key, e);
  return m;
}

/** Serialises members the way Python's json.dumps does: `{"k": v, "k2": v2}`. */
export function objectText(m: Map<string, Entry>): string {
  const parts: string[] = [];
  for (const e of m.values()) parts.push(`${e.rawKey}: ${e.raw}`);
  return `{${parts.join(', ')}}`;
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

/**
 * Merges file_info as combine_json does (later files win); with `readSource`,
 * embeds the sources the events name.
 */
export function mergeFileInfo(files: TraceSummary[], readSource: ReadSource | undefined): Map<string, Entry> {
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
  if (readSource !== undefined) embed(files, filesMap, funcs, readSource);
  set(info, 'files', objectText(filesMap));
  set(info, 'functions', objectText(funcs));
  return info;
}

// VizTracer's name pattern for Python functions: "qualname (path:lineno)".
const FUNC_RE = /^.*\((.*):([0-9]+)\)/;

/**
 * VizTracer's prepare_json pass: for each X event name not yet in functions
 * that names a readable source file, embed that file's text. Frozen modules
 * (`<frozen x>`) cannot be resolved outside Python and are left out.
 */
function embed(files: TraceSummary[], filesMap: Map<string, Entry>, funcs: Map<string, Entry>, readSource: ReadSource): void {
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
        const read = path.startsWith('<') ? undefined : readSource(path);
        if (read === undefined) {
          unreadable.add(path);
          continue;
        }
        // tokenize.open reads with universal newlines.
        const text = read.replace(/\r\n?/g, '\n');
        const lines = text.split('\n').length - 1;
        filesMap.set(path, { key: path, rawKey: JSON.stringify(path), raw: JSON.stringify([text, lines]).replace(/,(?=\d+\]$)/, ', ') });
      }
      funcs.set(name, { key: name, rawKey: JSON.stringify(name), raw: `[${JSON.stringify(path)}, ${lineno}]` });
    }
  }
}
