// The records the reader makes: perf-parse's records (lib/perf-records.ts,
// docs/events.md) that perf script's text can hold, under the reader's names.
import type { Comm, Exit, Fork, Header, Lost, PerfRecord, Sample } from '../perf-records.js';

export type SampleRecord = Sample;
export type CommRecord = Comm;
export type TaskRecord = Fork | Exit;
export type LostRecord = Lost;
export type OtherRecord = PerfRecord;
export type HeaderRecord = Header;

export type PerfDataRecord = SampleRecord | CommRecord | TaskRecord | LostRecord | OtherRecord | HeaderRecord;
