// perf-parse's records: what a `perf script` line (or a perf.data record,
// lib/perf-data/) is, as the stages exchange it. They describe perf's events
// and know no GIL, so they live in lib/, where the perf.data reader makes
// them too; filters/records.ts, the whole contract, re-exports them.
import type { Frame } from './perf-grammar.js';

/** A tracepoint's payload as key=value fields; integers are numbers. */
export type Fields = Record<string, unknown>;

export interface Sample {
  type: 'sample';
  ts: number;
  comm?: string;
  pid?: number;
  tid?: number;
  cpu?: number;
  period?: number;
  misc?: string;
  tod?: string;
  event: string;
  fields?: Fields;
  /** A uprobe hit: the probed address, and the return address on a return probe. */
  probe?: { func: string; ret?: string };
  payload?: string;
  addr?: Frame;
  ip?: Frame;
  callchain?: Frame[];
}

/** PERF_RECORD_COMM: a thread's name, set or changed (exec: a new program). */
export interface Comm {
  type: 'comm';
  ts: number;
  cpu?: number;
  pid: number;
  tid: number;
  comm: string;
  exec: boolean;
}

/** PERF_RECORD_FORK and PERF_RECORD_EXIT: pid/tid of the task, ppid/ptid of its parent. */
export interface Fork {
  type: 'fork';
  ts: number;
  cpu?: number;
  pid: number;
  tid: number;
  ppid: number;
  ptid: number;
}

export interface Exit extends Omit<Fork, 'type'> {
  type: 'exit';
}

/** PERF_RECORD_LOST: the kernel dropped `lost` events here. */
export interface Lost {
  type: 'lost';
  ts: number;
  cpu?: number;
  lost: number;
}

/** Any other PERF_RECORD_* line (SWITCH, MMAP2, ...): its name and the rest of the line. */
export interface PerfRecord {
  type: 'perf_record';
  ts: number;
  cpu?: number;
  pid?: number;
  tid?: number;
  name: string;
  body: string;
}

/** The `perf script --header` block. */
export interface Header {
  type: 'header';
  meta: Record<string, string>;
  events: Array<{ name: string; attrs: string }>;
}

/** A line perf itself printed among the events (warnings, "lost N chunks"). */
export interface PerfMessage {
  type: 'perf_message';
  text: string;
  lost_chunks?: number;
}

export type PerfParseRecord = Sample | Comm | Fork | Exit | Lost | PerfRecord | Header | PerfMessage;
