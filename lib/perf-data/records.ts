// The records the reader makes: the shapes of perf-parse's records
// (filters/records.ts, docs/events.md) that perf script's text can hold,
// declared here again because lib/ knows nothing above it. Passing them to
// an Emit of perf-parse's records (filters/upstream.ts) makes the compiler
// hold the two together.
import type { Frame } from '../perf-grammar.js';

export interface SampleRecord {
  type: 'sample';
  ts: number;
  event: string;
  comm?: string;
  pid?: number;
  tid?: number;
  cpu?: number;
  fields?: Record<string, unknown>;
  probe?: { func: string; ret?: string };
  payload?: string;
  addr?: Frame;
  ip?: Frame;
  callchain?: Frame[];
}

export interface CommRecord {
  type: 'comm';
  ts: number;
  cpu?: number;
  pid: number;
  tid: number;
  comm: string;
  exec: boolean;
}

export interface TaskRecord {
  type: 'fork' | 'exit';
  ts: number;
  cpu?: number;
  pid: number;
  tid: number;
  ppid: number;
  ptid: number;
}

export interface LostRecord {
  type: 'lost';
  ts: number;
  cpu?: number;
  lost: number;
}

export interface OtherRecord {
  type: 'perf_record';
  ts: number;
  cpu?: number;
  pid?: number;
  tid?: number;
  name: string;
  body: string;
}

/** The `perf script --header` block: `# key : value` lines and the events. */
export interface HeaderRecord {
  type: 'header';
  meta: Record<string, string>;
  events: Array<{ name: string; attrs: string }>;
}

export type PerfDataRecord = SampleRecord | CommRecord | TaskRecord | LostRecord | OtherRecord | HeaderRecord;
