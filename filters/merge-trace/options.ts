// merge-trace's option values: --shift FILE=US and --map-pid/--map-tid
// [FILE:]HOST=NS[,...]. Parsed when the options are (yargs coerce), checked
// against the input names once those are known.
import { UsageError } from '../../lib/errors.js';
import type { IdMaps } from './plan.js';

// A repeated option comes as an array, a single one as a string.
function list(v: string | string[]): string[] {
  return Array.isArray(v) ? v : [v];
}

export interface Shift {
  text: string;
  file: string;
  us: number;
}

export function parseShifts(v: string | string[]): Shift[] {
  return list(v).map((text) => {
    const eq = text.lastIndexOf('=');
    const us = Number(text.slice(eq + 1));
    if (eq <= 0 || text.slice(eq + 1).trim() === '' || !Number.isFinite(us)) throw new UsageError(`--shift ${text}: expected FILE=MICROSECONDS, e.g. gil.json=-1500`);
    return { text, file: text.slice(0, eq), us };
  });
}

export function shiftsByFile(shifts: Shift[], files: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const s of shifts) {
    if (!files.includes(s.file)) throw new UsageError(`--shift ${s.text}: ${s.file} is not one of the inputs`);
    m.set(s.file, s.us);
  }
  return m;
}

export interface IdMap {
  text: string;
  /** Undefined: every input. */
  file: string | undefined;
  pairs: Array<[number, number]>;
}

export function idMapParser(flag: string): (v: string | string[]) => IdMap[] {
  return (v) =>
    list(v).map((text) => {
      // FILE may contain ':' itself; the table after the last ':' has none.
      const colon = text.lastIndexOf(':');
      const pairs = (colon === -1 ? text : text.slice(colon + 1)).split(',').map((pair): [number, number] => {
        const m = /^\s*(\d+)\s*=\s*(\d+)\s*$/.exec(pair);
        if (!m) throw new UsageError(`${flag} ${text}: expected [FILE:]HOST=NS[,HOST=NS...] with numeric ids, e.g. 81234=7`);
        return [Number(m[1]), Number(m[2])];
      });
      return { text, file: colon === -1 ? undefined : text.slice(0, colon), pairs };
    });
}

export function idMaps(flag: string, maps: IdMap[], files: string[]): IdMaps {
  const out: IdMaps = { all: new Map(), byFile: new Map() };
  for (const { text, file, pairs } of maps) {
    if (file !== undefined && !files.includes(file)) throw new UsageError(`${flag} ${text}: ${file} is not one of the inputs`);
    let target = out.all;
    if (file !== undefined) {
      target = out.byFile.get(file) ?? new Map();
      out.byFile.set(file, target);
    }
    for (const [host, ns] of pairs) target.set(host, ns);
  }
  return out;
}
