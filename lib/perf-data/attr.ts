// perf_event_attr, as much of it as reading records needs: which fields a
// sample carries (sample_type), whether other records carry a sample_id
// trailer (sample_id_all), and what the event is (type, config).
// Layout: include/uapi/linux/perf_event.h; the file format:
// tools/perf/Documentation/perf.data-file-format.txt.
import type { ByteOrder } from './bytes.js';

export const SAMPLE = {
  IP: 1 << 0,
  TID: 1 << 1,
  TIME: 1 << 2,
  ADDR: 1 << 3,
  READ: 1 << 4,
  CALLCHAIN: 1 << 5,
  ID: 1 << 6,
  CPU: 1 << 7,
  PERIOD: 1 << 8,
  STREAM_ID: 1 << 9,
  RAW: 1 << 10,
  BRANCH_STACK: 1 << 11,
  REGS_USER: 1 << 12,
  STACK_USER: 1 << 13,
  IDENTIFIER: 1 << 16,
} as const;

const READ_FORMAT = { TOTAL_TIME_ENABLED: 1, TOTAL_TIME_RUNNING: 2, ID: 4, GROUP: 8, LOST: 16 } as const;

export const ATTR_TYPE = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;

export interface Attr {
  type: number;
  config: number;
  sampleType: number;
  readFormat: number;
  sampleIdAll: boolean;
  branchHwIndex: boolean;
  /** The event's name (HEADER_EVENT_DESC), when the recording has one. */
  name?: string;
  /** Every how many events it samples when that is fixed (-c N, not -F): a sample then has no PERIOD of its own, and perf prints this. */
  fixedPeriod: number | undefined;
  ids: number[];
  /** The attribute as recorded (its own size), for the header's description of it. */
  raw: Buffer;
  /** Bytes of the sample_id trailer of non-sample records. */
  idTrailer: number;
  /** Where the id is: from the start of a sample's body, from the end of a record's trailer (in bytes), or -1. */
  sampleIdAt: number;
  trailerIdFromEnd: number;
}

/** perf_event_attr at `o` (its own size field says how long it is). */
export function parseAttr(b: Buffer, o: number, order: ByteOrder): Attr {
  const size = order.u32(b, o + 4);
  if (size < 64 || o + size > b.length) throw new RangeError(`event attribute of ${size} bytes`);
  const sampleType = order.u64(b, o + 24);
  const branch = size >= 80 ? order.u64(b, o + 72) : 0;
  const st = sampleType;
  const has = (bit: number): boolean => (st & bit) !== 0;
  let trailer = 0;
  for (const bit of [SAMPLE.TID, SAMPLE.TIME, SAMPLE.ID, SAMPLE.STREAM_ID, SAMPLE.CPU, SAMPLE.IDENTIFIER]) if (has(bit)) trailer += 8;
  let sampleIdAt = -1;
  if (has(SAMPLE.IDENTIFIER)) sampleIdAt = 0;
  else if (has(SAMPLE.ID)) sampleIdAt = 8 * [SAMPLE.IP, SAMPLE.TID, SAMPLE.TIME, SAMPLE.ADDR].filter(has).length;
  let trailerIdFromEnd = -1;
  if (has(SAMPLE.IDENTIFIER)) trailerIdFromEnd = 8;
  else if (has(SAMPLE.ID)) trailerIdFromEnd = 8 + 8 * [SAMPLE.STREAM_ID, SAMPLE.CPU].filter(has).length;
  return {
    type: order.u32(b, o),
    config: order.u64(b, o + 8),
    sampleType,
    readFormat: order.u64(b, o + 32),
    sampleIdAll: order.flag(b, o + 40, 18),
    // sample_period and sample_freq share the word; the freq bit (10) says which it is.
    fixedPeriod: order.flag(b, o + 40, 10) ? undefined : order.u64(b, o + 16),
    // PERF_SAMPLE_BRANCH_HW_INDEX: a branch stack starts with an index word.
    branchHwIndex: (branch & (1 << 17)) !== 0,
    ids: [],
    raw: Buffer.from(b.subarray(o, o + size)),
    idTrailer: trailer,
    sampleIdAt,
    trailerIdFromEnd,
  };
}

/** Bytes of a sample's PERF_SAMPLE_READ part, from read_format. */
export function readSize(a: Attr, b: Buffer, o: number, order: ByteOrder): number {
  const rf = a.readFormat;
  const extra = [READ_FORMAT.TOTAL_TIME_ENABLED, READ_FORMAT.TOTAL_TIME_RUNNING].filter((x) => rf & x).length * 8;
  const perValue = 8 + (rf & READ_FORMAT.ID ? 8 : 0) + (rf & READ_FORMAT.LOST ? 8 : 0);
  if (rf & READ_FORMAT.GROUP) return 8 + extra + order.u64(b, o) * perValue;
  return perValue + extra;
}

const HARDWARE = ['cycles', 'instructions', 'cache-references', 'cache-misses', 'branches', 'branch-misses', 'bus-cycles', 'stalled-cycles-frontend', 'stalled-cycles-backend', 'ref-cycles'];
const SOFTWARE = ['cpu-clock', 'task-clock', 'page-faults', 'context-switches', 'cpu-migrations', 'minor-faults', 'major-faults', 'alignment-faults', 'emulation-faults', 'dummy', 'bpf-output', 'cgroup-switches'];

/** A name for an event the recording does not name (pipe mode writes no HEADER_EVENT_DESC). */
export function fallbackName(a: Attr, tracepoint: (id: number) => string | undefined): string {
  if (a.type === ATTR_TYPE.TRACEPOINT) return tracepoint(a.config) ?? `tracepoint-${a.config}`;
  if (a.type === ATTR_TYPE.HARDWARE) return HARDWARE[a.config] ?? `raw-hw-${a.config}`;
  if (a.type === ATTR_TYPE.SOFTWARE) return SOFTWARE[a.config] ?? `raw-sw-${a.config}`;
  return `${a.type}:${a.config.toString(16)}`;
}

/**
 * An event that samples code (cpu-clock, cycles: not a tracepoint, not the
 * dummy): perf script prints its samples' ip with the symbol and the offset
 * in it, and their period.
 */
export function samplesCode(a: Attr): boolean {
  if (a.type === ATTR_TYPE.TRACEPOINT) return false;
  if (a.type === ATTR_TYPE.SOFTWARE && a.config === 9 /* dummy */) return false;
  return (a.sampleType & SAMPLE.IP) !== 0;
}
