// A perf.data written to a file, as the stream of a pipe-mode one. A file
// keeps its event attributes before the data and its feature sections
// (event names, tracepoint formats) after it; a pipe sends them as records
// first. Reading the head and the tail here and sending them ahead of the
// data section, as HEADER_ATTR, HEADER_FEATURE and HEADER_TRACING_DATA
// records (what `perf inject` does to pipe a file), leaves one reader
// (decoder.ts) for both kinds. One record of gilpipe's own (GILPIPE_DATA_AT)
// says where the data section starts, so errors name bytes of the file.
import { closeSync, createReadStream, fstatSync, openSync, readSync } from 'node:fs';
import { readAt } from '../elf.js';
import { PassThrough, type Readable } from 'node:stream';
import { type Attr, ATTR_TYPE, SAMPLE, parseAttr, samplesCode } from './attr.js';
import { type ByteOrder, magicOrder } from './bytes.js';
import { FEATURE, QUEUE_MAX, QUEUED_RECORDS, RECORD } from './decoder.js';

/** Why a file cannot be read: exit 1, with the file named by the caller. */
export class PerfDataFileError extends Error {}

export interface PerfDataFile {
  path: string;
  order: ByteOrder;
  attrs: Attr[];
  /** A reason perf script must read this recording instead (callchains to resolve, compressed records), if any. */
  needsPerfScript?: string;
  /** A reason perf script reads it better, where there is one (a round too big to put in order here): else it is read here, and what came late said. */
  betterPerfScript?: string;
  /** The data section was cut, or its size was never written (perf record killed): said after the records read. */
  cut?: string;
  /** The records as a pipe-mode recording's bytes: the prelude, then `len` bytes of the file from `start`. */
  region: FileRegion;
  /** The same bytes, as a stream. */
  stream(): Readable;
}

/** Bytes of our own ahead of a stretch of a file: what a reader of the file gets instead of the file. */
export interface FileRegion {
  prelude: Buffer;
  start: number;
  len: number;
}

const HEADER_SIZE = 104;

/** Reads the header, the attributes and the feature sections of a file-mode perf.data. */
export function openPerfDataFile(path: string, queueMax = QUEUE_MAX): PerfDataFile {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    const fileSize = st.size;
    const h = readAt(fd, 0, HEADER_SIZE, fileSize);
    const order = magicOrder(h);
    if (order === undefined) throw new PerfDataFileError('not a perf.data file (no PERFILE2 magic)');
    if (h.length >= 16 && order.u64(h, 8) === 16) {
      // A pipe-mode recording saved to a file: as it is, with where its records start and when it was written.
      const prelude = Buffer.concat([h.subarray(0, 16), dataAtRecord(order, 16, false, [0, 0, 0], st.mtimeMs)]);
      const attrs = pipeAttrs(readAt(fd, 16, PIPE_HEAD_MAX, fileSize), order);
      return described(fd, path, order, attrs, { prelude, start: 16, len: fileSize - 16 }, perfScriptReason(attrs, false), undefined, queueMax);
    }
    if (h.length < HEADER_SIZE) throw new PerfDataFileError(`truncated at byte ${h.length} (in the file header)`);
    const attrSize = order.u64(h, 16);
    const attrsAt = order.u64(h, 24);
    const attrsLen = order.u64(h, 32);
    const dataAt = order.u64(h, 40);
    let dataLen = order.u64(h, 48);
    if (attrSize < 80 || attrsAt + attrsLen > fileSize) throw new PerfDataFileError(`truncated at byte ${fileSize} (in the event attributes)`);
    const attrBytes = readAt(fd, attrsAt, attrsLen, fileSize);
    const attrs: Attr[] = [];
    const attrRecords: Buffer[] = [];
    for (let q = 0; q + attrSize <= attrBytes.length; q += attrSize) {
      let a: Attr;
      try {
        a = parseAttr(attrBytes, q, order);
      } catch {
        throw new PerfDataFileError(`corrupt at byte ${attrsAt + q}: an event attribute of ${order.u32(attrBytes, q + 4)} bytes`);
      }
      const own = order.u32(attrBytes, q + 4);
      const idsAt = order.u64(attrBytes, q + attrSize - 16);
      const idsLen = order.u64(attrBytes, q + attrSize - 8);
      if (idsAt + idsLen > fileSize || idsLen % 8 !== 0) throw new PerfDataFileError(`corrupt at byte ${attrsAt + q}: event ids past the end of the file`);
      const ids = readAt(fd, idsAt, idsLen, fileSize);
      for (let k = 0; k < ids.length; k += 8) a.ids.push(order.u64(ids, k));
      attrs.push(a);
      attrRecords.push(record(order, RECORD.HEADER_ATTR, Buffer.concat([attrBytes.subarray(q, q + own), ids])));
    }
    let cut: string | undefined;
    if (dataLen === 0 && fileSize > dataAt) {
      dataLen = fileSize - dataAt;
      cut = `the header gives no data size (perf record did not finish?): read to the end of the file, byte ${fileSize}; its event names and tracepoint formats were never written`;
    } else if (dataAt + dataLen > fileSize) {
      cut = `truncated at byte ${fileSize}: its data runs to byte ${dataAt + dataLen}, and its event names and tracepoint formats, kept after the data, are lost`;
      dataLen = Math.max(0, fileSize - dataAt);
    }
    // The feature sections: a table of {offset, size} after the data, one per bit set in the header's bitmap.
    const features = new Map<number, Buffer>();
    if (cut === undefined) {
      const bits: number[] = [];
      for (let i = 0; i < 256; i++) if (bit(h, order, i)) bits.push(i);
      const table = readAt(fd, dataAt + dataLen, 16 * bits.length, fileSize);
      if (table.length < 16 * bits.length) cut = `truncated at byte ${fileSize} (in the feature sections: event names and tracepoint formats are lost)`;
      for (let k = 0; k * 16 + 16 <= table.length; k++) {
        const id = bits[k]!;
        if (!WANTED.has(id)) continue;
        const at = order.u64(table, 16 * k);
        const len = order.u64(table, 16 * k + 8);
        if (at + len > fileSize) {
          cut = `truncated at byte ${fileSize} (in the feature sections: event names and tracepoint formats are lost)`;
          continue;
        }
        features.set(id, readAt(fd, at, len, fileSize));
      }
    }
    const needsPerfScript = perfScriptReason(attrs, features.has(FEATURE.COMPRESSED));

    const head: Buffer[] = [pipeHeader(h, order), ...attrRecords];
    for (const id of FORWARDED) {
      const d = features.get(id);
      if (d === undefined) continue;
      const payload = Buffer.alloc(8 + d.length);
      writeU64(order, payload, 0, id);
      d.copy(payload, 8);
      if (8 + payload.length <= 0xffff) head.push(record(order, RECORD.HEADER_FEATURE, payload));
    }
    // The build ids of the files samples hit, as the records a pipe carries them in: one per file.
    const ids = features.get(FEATURE.BUILD_ID);
    for (let q = 0; ids !== undefined && q + 8 <= ids.length; ) {
      const size = order.u16(ids, q + 6);
      if (size < 8 || q + size > ids.length) break;
      head.push(record(order, RECORD.HEADER_BUILD_ID, ids.subarray(q + 8, q + size), order.u16(ids, q + 4)));
      q += size;
    }
    const tracing = features.get(FEATURE.TRACING_DATA);
    if (tracing !== undefined) {
      const size = Buffer.alloc(4);
      if (order.little) size.writeUInt32LE(tracing.length);
      else size.writeUInt32BE(tracing.length);
      head.push(record(order, RECORD.HEADER_TRACING_DATA, size), tracing);
    }
    head.push(dataAtRecord(order, dataAt, cut !== undefined, [dataAt, order.u64(h, 48), dataAt + order.u64(h, 48)], st.mtimeMs));
    return described(fd, path, order, attrs, { prelude: Buffer.concat(head), start: dataAt, len: dataLen }, needsPerfScript, cut, queueMax);
  } finally {
    closeSync(fd);
  }
}

/** The features sent ahead of the data: what the reader uses, and what perf script --header prints of them. */
const FORWARDED = [
  FEATURE.EVENT_DESC,
  FEATURE.HOSTNAME,
  FEATURE.OSRELEASE,
  FEATURE.VERSION,
  FEATURE.ARCH,
  FEATURE.NRCPUS,
  FEATURE.CPUDESC,
  FEATURE.CPUID,
  FEATURE.TOTAL_MEM,
  FEATURE.CMDLINE,
  FEATURE.PMU_MAPPINGS,
  FEATURE.SAMPLE_TIME,
  FEATURE.CLOCKID,
  FEATURE.CLOCK_DATA,
];
const WANTED = new Set<number>([FEATURE.TRACING_DATA, FEATURE.COMPRESSED, FEATURE.BUILD_ID, ...FORWARDED]);

/**
 * gilpipe's own record ahead of the data: where the data starts in the
 * file, whether what follows it was lost to a cut, the header's layout
 * (data offset, size, feature offset) and the file's time, which perf
 * script --header prints as `captured on`.
 */
function dataAtRecord(order: ByteOrder, dataAt: number, tailLost: boolean, layout: [number, number, number], mtimeMs: number): Buffer {
  const b = Buffer.alloc(48);
  writeU64(order, b, 0, dataAt);
  writeU64(order, b, 8, tailLost ? 1 : 0);
  writeU64(order, b, 16, layout[0]);
  writeU64(order, b, 24, layout[1]);
  writeU64(order, b, 32, layout[2]);
  writeU64(order, b, 40, Math.floor(mtimeMs));
  return record(order, RECORD.GILPIPE_DATA_AT, b);
}

/** A region of the file at `path` as a stream. */
function withPrelude({ prelude, start, len }: FileRegion, path: string): Readable {
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  out.write(prelude);
  if (len <= 0) {
    out.end();
    return out;
  }
  const data = createReadStream(path, { start, end: start + len - 1, highWaterMark: 256 * 1024 });
  data.on('error', (e) => out.destroy(e));
  // Ctrl-C destroys the input: the file read behind it stops too.
  out.on('close', () => data.destroy());
  data.pipe(out);
  return out;
}

/** Feature bit `i` of the header's bitmap (a bitmap of u64 words, bit 0 the lowest of the first). */
function bit(h: Buffer, order: ByteOrder, i: number): boolean {
  const word = order.u64big(h, 72 + 8 * (i >> 6));
  return ((word >> BigInt(i & 63)) & 1n) === 1n;
}

/** What only perf script can do for a recording of these events, if anything. */
function perfScriptReason(attrs: Attr[], compressed: boolean): string | undefined {
  // Frame-pointer callchains are named here (symbols.ts); user stacks copied for DWARF unwinding, and branch stacks, are perf's to unwind.
  if (attrs.some((a) => a.sampleType & SAMPLE.CALLCHAIN && a.sampleType & (SAMPLE.REGS_USER | SAMPLE.STACK_USER))) {
    return 'it has DWARF callchains (--call-graph dwarf), which perf script unwinds';
  }
  if (attrs.some((a) => a.sampleType & SAMPLE.BRANCH_STACK)) return 'it has branch stacks (--call-graph lbr, -b), which perf script reads';
  // Software events (cpu-clock) are read here; a hardware event's fields (addresses, weights, data sources) could not be checked on this machine.
  if (attrs.some((a) => samplesCode(a) && a.type !== ATTR_TYPE.SOFTWARE)) return 'it samples hardware events, whose fields perf script prints';
  if (compressed) return 'its records are compressed (perf record -z)';
  return undefined;
}

/** A file's description: what it holds, and whether perf script reads it instead (a round too big to order is looked for only when nothing else sends it there). */
function described(
  fd: number,
  path: string,
  order: ByteOrder,
  attrs: Attr[],
  region: FileRegion,
  needsPerfScript: string | undefined,
  cut: string | undefined,
  queueMax: number,
): PerfDataFile {
  const betterPerfScript = needsPerfScript === undefined ? roundReason(fd, region, order, queueMax) : undefined;
  return {
    path,
    order,
    attrs,
    ...(needsPerfScript !== undefined ? { needsPerfScript } : {}),
    ...(betterPerfScript !== undefined ? { betterPerfScript } : {}),
    ...(cut !== undefined ? { cut } : {}),
    region,
    stream: () => withPrelude(region, path),
  };
}

/**
 * Why perf script must read a file whose rounds are too big for the native
 * reader's queue (decoder.ts, QUEUE_MAX): it would deliver some records out
 * of time order, where perf script, whose queue has no limit, does not. A
 * round is every record between two FINISHED_ROUNDs; perf record ends one each
 * time it empties its buffers, so on many CPUs, or at the final read of a
 * busy recording, one can pass half a million records.
 */
function roundReason(fd: number, region: FileRegion, order: ByteOrder, queueMax: number): string | undefined {
  const n = largestRound(fd, region, order);
  if (n <= queueMax) return undefined;
  return `a round of ${n} records (between two FINISHED_ROUNDs), more than the ${queueMax} this reader holds to put them in time order`;
}

/** The most records of the kinds the decoder queues in any one round of the data: a pass over their headers. */
export function largestRound(fd: number, region: FileRegion, order: ByteOrder): number {
  const CHUNK = 1 << 20;
  const buf = Buffer.allocUnsafe(CHUNK);
  const end = region.start + region.len;
  let largest = 0;
  let round = 0;
  // The chunk's bytes are file bytes [at, at + got); p is the next record's offset in the file.
  let at = -1;
  let got = 0;
  for (let p = region.start; p + 8 <= end; ) {
    if (p < at || p + 8 > at + got) {
      at = p;
      got = readSync(fd, buf, 0, Math.min(CHUNK, end - p), p);
      if (got < 8) break;
    }
    const q = p - at;
    const type = order.u32(buf, q);
    const size = order.u16(buf, q + 6);
    if (size < 8) break; // corrupt: the decoder says where
    if (type === RECORD.FINISHED_ROUND) {
      if (round > largest) largest = round;
      round = 0;
    } else if (QUEUED_RECORDS.has(type)) round++;
    p += size;
    // A pipe's tracing data follows its record, outside the record's size.
    if (type === RECORD.HEADER_TRACING_DATA) {
      if (q + 12 > got) break;
      p += order.u32(buf, q + 8);
    }
  }
  return Math.max(largest, round);
}

/** How far into a pipe-mode file its attributes are looked for: they come first, one record per event. */
const PIPE_HEAD_MAX = 1 << 20;

/** The HEADER_ATTR records at the start of a pipe-mode recording (up to its first other record). */
function pipeAttrs(b: Buffer, order: ByteOrder): Attr[] {
  const attrs: Attr[] = [];
  for (let p = 0; p + 8 <= b.length; ) {
    const type = order.u32(b, p);
    const size = order.u16(b, p + 6);
    if (size < 8 || p + size > b.length || type < RECORD.HEADER_ATTR) break;
    if (type === RECORD.HEADER_TRACING_DATA) {
      // Its data follows the record, outside the record's size.
      if (p + 12 > b.length) break;
      p += size + order.u32(b, p + 8);
      continue;
    }
    if (type === RECORD.HEADER_ATTR) {
      try {
        attrs.push(parseAttr(b, p + 8, order));
      } catch {
        break;
      }
    }
    p += size;
  }
  return attrs;
}


function writeU64(order: ByteOrder, b: Buffer, o: number, v: number): void {
  if (order.little) b.writeBigUInt64LE(BigInt(v), o);
  else b.writeBigUInt64BE(BigInt(v), o);
}

/** A record: header (type, misc, size) and payload. */
function record(order: ByteOrder, type: number, payload: Buffer, misc = 0): Buffer {
  const size = 8 + payload.length;
  if (size > 0xffff) throw new PerfDataFileError(`a header part of ${size} bytes does not fit a record`);
  const b = Buffer.alloc(size);
  if (order.little) {
    b.writeUInt32LE(type >>> 0, 0);
    b.writeUInt16LE(misc, 4);
    b.writeUInt16LE(size, 6);
  } else {
    b.writeUInt32BE(type >>> 0, 0);
    b.writeUInt16BE(misc, 4);
    b.writeUInt16BE(size, 6);
  }
  payload.copy(b, 8);
  return b;
}

function pipeHeader(h: Buffer, order: ByteOrder): Buffer {
  const b = Buffer.alloc(16);
  h.copy(b, 0, 0, 8);
  writeU64(order, b, 8, 16);
  return b;
}
