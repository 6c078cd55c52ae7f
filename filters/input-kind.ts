// What an input is, from its first line: each stage handles what it can and
// names what it cannot, with the stage that is missing.
import { parseHead } from '../lib/perf-grammar.js';
import { isPerfData } from '../lib/perf.js';

export type InputKind =
  /** A perf.data recording (binary; lib/perf-data/ reads it). */
  | 'perf.data'
  /** `perf script` text. */
  | 'perf script text'
  /** NDJSON records: perf-parse's, gil-state's, anyone's. */
  | 'records'
  /** A gil-stats JSON summary. */
  | 'gil-stats summary'
  /** Chrome trace JSON (to-trace's, VizTracer's). */
  | 'trace JSON'
  | 'unknown';

export function kindOf(firstLine: string, head: Buffer): InputKind {
  if (isPerfData(head)) return 'perf.data';
  const s = firstLine.trimStart();
  if (s.startsWith('{')) {
    if (s.startsWith('{"traceEvents"')) return 'trace JSON';
    if (/^\{\s*"type"\s*:\s*"gil_stats"/.test(s)) return 'gil-stats summary';
    try {
      const v: unknown = JSON.parse(s);
      if (v !== null && typeof v === 'object' && 'traceEvents' in v) return 'trace JSON';
      if (v !== null && typeof v === 'object' && 'type' in v) return v.type === 'gil_stats' ? 'gil-stats summary' : 'records';
    } catch {
      // A first line that does not parse on its own: a pretty-printed trace or summary.
      return /"traceEvents"/.test(s) || s === '{' ? 'trace JSON' : 'unknown';
    }
    return 'unknown';
  }
  if (s.startsWith('[')) return 'trace JSON';
  if (s.startsWith('#') || parseHead(firstLine, { taskWidth: 5 }) !== undefined) return 'perf script text';
  return textAfter(head);
}

/** Lines of the head looked at past a first line that says nothing. */
const LOOK_AHEAD = 1000;

/**
 * perf script text whose first line is not an event: perf's own warning
 * (`perf script 2>&1`), or the frames of a callchain cut at the front. The
 * first line that is an event, or JSON, decides; else it is unknown (read as
 * records, whose reader names the input none of whose lines it could read).
 */
function textAfter(head: Buffer): InputKind {
  const lines = head.toString('latin1').split('\n', LOOK_AHEAD + 1);
  // The last piece may be a line cut by the end of the head.
  for (const line of lines.slice(1, -1)) {
    const s = line.trimStart();
    if (s.startsWith('{')) return 'unknown';
    if (parseHead(line.replace(/\r$/, ''), { taskWidth: 5 }) !== undefined) return 'perf script text';
  }
  return 'unknown';
}

/** Record types gil-state writes: an input holding them has been through gil-state. */
export function isGilStateType(type: string): boolean {
  return type === 'span' || type === 'handoff' || type === 'thread' || type === 'process' || type === 'capture' || type === 'diagnostic';
}



/** Why a stage cannot read an input of this kind, and what reads it; undefined when it can. */
export function wrongInput(kind: InputKind, stage: 'perf-parse' | 'gil-state' | 'gil-stats' | 'to-trace'): string | undefined {
  switch (kind) {
    case 'gil-stats summary':
      return 'this is a gil-stats summary, not events: gil-stats --merge combines summaries';
    case 'trace JSON':
      return 'this is trace JSON, not events: open it in a trace viewer, or merge traces with merge-trace';
    case 'records':
      return stage === 'perf-parse' ? "this is NDJSON records (perf-parse's output?), not perf script text: give it to gil-state" : undefined;
    default:
      return undefined;
  }
}
