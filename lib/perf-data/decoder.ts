// perf.data's records to perf-parse's records, with no perf binary: the
// records `perf script --show-task-events --show-lost-events
// --show-switch-events` prints, in the order it prints them, with the fields
// it prints. Fed the bytes of a pipe-mode recording (`perf record -o -`), or
// of a file-mode one rewritten as such by `openPerfData` (file.ts).
//
// What perf does that this repeats:
// - Order. perf queues every record that has a time and delivers them
//   sorted by time (ties in arrival order) up to the latest time seen before
//   the previous FINISHED_ROUND; the rest at the end. Records with time 0
//   (synthesized at the start) are delivered on arrival.
// - Thread names. A sample's comm is its thread's latest COMM; a fork copies
//   the parent's name when the parent had one; an unknown thread is `:TID`;
//   thread 0 is `swapper`.
// - Tracepoint payloads are printed from the format's print fmt (tracing.ts)
//   and read by the same payload reader as perf script's text.
// - Callchain frames: named from the maps the MMAP records built and the
//   symbol tables of the mapped files (symbols.ts), when each sample is
//   delivered, so a map is the one in place at the sample's time.
import type { Context, Emit, Filter } from '../filter.js';
import { parsePayload } from '../perf-payload.js';
import { type Attr, ATTR_TYPE, SAMPLE, fallbackName, parseAttr, readSize, samplesCode } from './attr.js';
import { type ByteOrder, magicOrder } from './bytes.js';
import { type Format, parseTracingData, TracingDataError } from './tracing.js';
import type { HeaderRecord, OtherRecord, PerfDataRecord, SampleRecord } from './records.js';
import { Symbolizer, type SymbolizerOptions } from './symbols.js';
import { MAX_TIME } from '../max-time.js';

/** A memory map, delivered in time order like the records, but only to the symbolizer: perf script prints none. */
interface MmapItem {
  type: 'mmap';
  ts: number;
  pid: number;
  /** The record and where its start address is (len and pgoff follow it). */
  b: Buffer;
  len: number;
  pgoff: number;
  filename: string;
  prot: number;
  kernel: boolean;
}

/**
 * What a sample's frames are named from when it is delivered: its callchain
 * entries, or its ip (and whether it was taken in the kernel). Kept under a
 * symbol, which no serialiser writes, and cleared on delivery.
 */
const UNNAMED = Symbol('unnamed');
interface Unnamed {
  [UNNAMED]?: { chain: Buffer; code: boolean } | { hi: number; lo: number; kernel: boolean; code: boolean } | undefined;
}

/** Every record but the header has a time. */
type Timed = Exclude<PerfDataRecord, HeaderRecord>;
type Queued = Timed | MmapItem;
import { type HeaderFacts, STRING_FEATURES, eventAttrs, headerMeta } from './header.js';
import { utf8 } from '../perf-grammar.js';

export const RECORD = {
  MMAP: 1,
  LOST: 2,
  COMM: 3,
  EXIT: 4,
  FORK: 7,
  SAMPLE: 9,
  MMAP2: 10,
  LOST_SAMPLES: 13,
  SWITCH: 14,
  SWITCH_CPU_WIDE: 15,
  HEADER_ATTR: 64,
  HEADER_TRACING_DATA: 66,
  HEADER_BUILD_ID: 67,
  FINISHED_ROUND: 68,
  AUXTRACE: 71,
  EVENT_UPDATE: 78,
  HEADER_FEATURE: 80,
  COMPRESSED: 81,
  /** gilpipe's own, only in a file-mode recording rewritten by file.ts: where the data section starts in the file. */
  GILPIPE_DATA_AT: 0x67700001,
} as const;

const NAMES: Record<number, string> = {
  1: 'MMAP', 2: 'LOST', 3: 'COMM', 4: 'EXIT', 5: 'THROTTLE', 6: 'UNTHROTTLE', 7: 'FORK', 8: 'READ', 9: 'SAMPLE', 10: 'MMAP2',
  11: 'AUX', 12: 'ITRACE_START', 13: 'LOST_SAMPLES', 14: 'SWITCH', 15: 'SWITCH_CPU_WIDE', 16: 'NAMESPACES', 17: 'KSYMBOL',
  18: 'BPF_EVENT', 19: 'CGROUP', 20: 'TEXT_POKE', 21: 'AUX_OUTPUT_HW_ID', 64: 'HEADER_ATTR', 65: 'HEADER_EVENT_TYPE',
  66: 'HEADER_TRACING_DATA', 67: 'HEADER_BUILD_ID', 68: 'FINISHED_ROUND', 69: 'ID_INDEX', 70: 'AUXTRACE_INFO', 71: 'AUXTRACE',
  72: 'AUXTRACE_ERROR', 73: 'THREAD_MAP', 74: 'CPU_MAP', 75: 'STAT_CONFIG', 76: 'STAT', 77: 'STAT_ROUND', 78: 'EVENT_UPDATE',
  79: 'TIME_CONV', 80: 'HEADER_FEATURE', 81: 'COMPRESSED', 82: 'FINISHED_INIT',
};

/** A record type's name as perf prints it (PERF_RECORD_ without the prefix). */
export function recordName(type: number): string {
  return NAMES[type] ?? `type ${type}`;
}

export const FEATURE = {
  TRACING_DATA: 1,
  BUILD_ID: 2,
  HOSTNAME: 3,
  OSRELEASE: 4,
  VERSION: 5,
  ARCH: 6,
  NRCPUS: 7,
  CPUDESC: 8,
  CPUID: 9,
  TOTAL_MEM: 10,
  CMDLINE: 11,
  EVENT_DESC: 12,
  PMU_MAPPINGS: 16,
  SAMPLE_TIME: 21,
  CLOCKID: 23,
  COMPRESSED: 27,
  CLOCK_DATA: 29,
} as const;

const MISC_COMM_EXEC = 1 << 13;
const MISC_FORK_EXEC = 1 << 13;
const MISC_MMAP_DATA = 1 << 13;
const MISC_MMAP_BUILD_ID = 1 << 14;
const MISC_BUILD_ID_SIZE = 1 << 15;
const MISC_CPUMODE_KERNEL = 1;
const MISC_SWITCH_OUT = 1 << 13;
const MISC_SWITCH_OUT_PREEMPT = 1 << 14;
/**
 * Records held for ordering at most: perf record ends a round every time it
 * empties its buffers, so a round holds a fraction of a second of events;
 * a stream without rounds would otherwise be held whole. Past this the older
 * half is delivered, as perf's ordered-events queue does when it is full
 * (perf's own has no limit unless report.queue-size sets one): a record of
 * the round that comes later and is older is then delivered out of order, and
 * counted (`stats.late`). A file is looked at first (file.ts) and one with a
 * round this big is read by perf script.
 */
export const QUEUE_MAX = 1 << 19;

/** The records that wait in the queue for their turn: those with a time, perf script prints or maps. */
export const QUEUED_RECORDS: ReadonlySet<number> = new Set([
  RECORD.MMAP,
  RECORD.LOST,
  RECORD.COMM,
  RECORD.EXIT,
  RECORD.FORK,
  RECORD.SAMPLE,
  RECORD.MMAP2,
  RECORD.SWITCH,
  RECORD.SWITCH_CPU_WIDE,
]);

/** What the recording says about itself, from its feature sections (or HEADER_FEATURE records). */
export interface PerfDataInfo {
  hostname?: string;
  osrelease?: string;
  cmdline?: string[];
  /** The clock of the times (CLOCK_DATA; the attributes' clockid with -k): 1 is CLOCK_MONOTONIC. */
  clockid?: number;
  /** That clock's resolution (HEADER_CLOCKID). */
  clockResNs?: number;
}

export interface PerfDataStats {
  /** Records read (all types). */
  records: number;
  samples: number;
  lost: number;
  /** Samples the kernel could not write (PERF_RECORD_LOST_SAMPLES). */
  lostSamples: number;
  /** Samples with a DWARF user stack (--call-graph dwarf), which only perf script unwinds. */
  dwarf: number;
  /** Records delivered after a later one, since the queue was full (QUEUE_MAX). */
  late: number;
}

export interface PerfDataDecoderOptions {
  /** Where callchain symbols are looked for (symbols.ts); the defaults are perf's. */
  symbols?: SymbolizerOptions;
  /** Records held for ordering at most (QUEUE_MAX): smaller in tests, to make a round overflow. */
  queueMax?: number;
}

interface Thread {
  pid: number;
  comm: string;
  named: boolean;
}

export class PerfDataDecoder implements Filter<Buffer> {
  readonly stats: PerfDataStats = { records: 0, samples: 0, lost: 0, lostSamples: 0, dwarf: 0, late: 0 };
  /** Where the record being read begins in buf. */
  private recordAt = 0;
  /** The latest time delivered because the queue was full: a record older than it arrives too late. */
  private overflowTs = -Infinity;
  readonly info: PerfDataInfo = {};
  private buf: Buffer = Buffer.alloc(0);
  /**
   * The bytes of a record cut by a chunk's end, and then the next chunk after
   * them: one buffer, reused. (A new buffer a chunk, joining the two, was 6,000
   * buffers of 64 KB on a 400 MB file, freed late, outside V8's heap.)
   */
  private joint: Buffer = Buffer.allocUnsafeSlow(0);
  /** Stream offset of buf[0]. */
  private base = 0;
  private order: ByteOrder | undefined;
  private started = false;
  private broken = false;
  /** Stream offset and file offset of the data section, when the stream is a rewritten file. */
  private dataAt: { stream: number; file: number; tailLost: boolean } | undefined;
  private attrs: Attr[] = [];
  private byId = new Map<number, Attr>();
  private formats = new Map<number, Format>();
  /** Records waiting for their turn, each by its own ts; a sample's comm is its thread's when it is delivered. */
  private queue: Queued[] = [];
  private nextFlush = 0;
  private maxTs = 0;
  private threads = new Map<number, Thread>();
  private eventDescNames: string[] = [];
  private facts: HeaderFacts = { strings: new Map() };
  private headerSent = false;
  private symbols: Symbolizer;
  private showsIp: boolean | undefined;
  /** FORK records perf record synthesized for tasks running before it: they copy no maps. */
  private readonly synthesized = new WeakSet<Timed>();
  private readonly symbolNotes: string[] = [];

  constructor(
    private readonly emit: Emit<PerfDataRecord>,
    private readonly ctx: Context,
    private readonly opts: PerfDataDecoderOptions = {},
  ) {
    this.resetThreads();
    this.symbols = new Symbolizer(opts.symbols);
  }

  write(chunk: Buffer): void {
    if (this.broken) return;
    this.buf = this.buf.length === 0 ? chunk : this.join(chunk);
    let p = 0;
    try {
      p = this.consume();
    } catch (e) {
      if (!(e instanceof Broken)) throw e;
      this.fail(e.message);
      return;
    }
    this.base += p;
    // What is left is copied: the caller's chunk may be reused.
    this.buf = p === this.buf.length ? Buffer.alloc(0) : this.carry(this.buf.subarray(p));
  }

  /** The carried bytes (at the joint's start) with `chunk` after them. */
  private join(chunk: Buffer): Buffer {
    const n = this.buf.length;
    this.fit(n + chunk.length, n);
    chunk.copy(this.joint, n);
    return this.joint.subarray(0, n + chunk.length);
  }

  /** `rest` moved to the joint's start. */
  private carry(rest: Buffer): Buffer {
    if (rest.buffer === this.joint.buffer) {
      const at = rest.byteOffset - this.joint.byteOffset;
      this.joint.copyWithin(0, at, at + rest.length);
    } else {
      this.fit(rest.length, 0);
      rest.copy(this.joint, 0);
    }
    return this.joint.subarray(0, rest.length);
  }

  /** A joint of at least `size` bytes, its first `keep` bytes kept. Not pooled: carry() tells its bytes by their buffer. */
  private fit(size: number, keep: number): void {
    if (this.joint.length >= size) return;
    const j = Buffer.allocUnsafeSlow(Math.max(size, 2 * this.joint.length, 1 << 17));
    this.joint.copy(j, 0, 0, keep);
    this.joint = j;
  }

  endInput(): void {
    if (!this.broken) {
      if (!this.started) {
        this.fail(this.buf.length === 0 ? 'empty: no perf.data header' : `truncated at byte ${this.at(this.buf.length)} (in the header)`);
      } else if (this.attrs.length === 0) {
        this.fail(`truncated at byte ${this.at(this.buf.length)} (no event attributes after the header)`);
      } else if (this.buf.length > 0) {
        const what = this.buf.length >= 8 ? `in a ${recordName(this.order!.u32(this.buf, 0))} record` : 'in a record header';
        const lost = this.dataAt?.tailLost ? '; the event names and tracepoint formats kept after the data are lost with it' : '';
        this.fail(`truncated at byte ${this.at(this.buf.length)} (${what})${lost}`);
      }
    }
    if (this.started) this.sendHeader();
    this.flushQueue(Infinity);
    // Each input is a recording of its own.
    this.buf = Buffer.alloc(0);
    this.base = 0;
    this.order = undefined;
    this.started = false;
    this.broken = false;
    this.dataAt = undefined;
    this.attrs = [];
    this.byId.clear();
    this.formats.clear();
    this.nextFlush = 0;
    this.maxTs = 0;
    this.overflowTs = -Infinity;
    this.showsIp = undefined;
    this.eventDescNames = [];
    this.facts = { strings: new Map() };
    this.headerSent = false;
    this.resetThreads();
    this.symbolNotes.push(...this.symbols.notes());
    // The next recording goes on with these tables (files by path and build id), not its perf maps.
    const tables = this.symbols.tables;
    tables.forget();
    this.symbols = new Symbolizer({ ...this.opts.symbols, cache: tables });
  }

  end(): void {
    if (this.started || this.buf.length > 0) this.endInput();
  }

  notes(): string[] {
    const notes: string[] = [];
    if (this.stats.lost > 0) notes.push(`perf lost ${this.stats.lost} events while recording (PERF_RECORD_LOST): spans across those gaps are unknown`);
    // perf record (6.x) also writes the losses it counted as LOST_SAMPLES at the end: said only when no LOST said them.
    if (this.stats.lostSamples > 0 && this.stats.lost === 0) notes.push(`the kernel dropped ${this.stats.lostSamples} samples while recording (PERF_RECORD_LOST_SAMPLES)`);
    if (this.stats.late > 0) {
      notes.push(
        `${this.stats.late} records came after later ones had been delivered: a round of more than ${this.opts.queueMax ?? QUEUE_MAX} records, more than this reader holds to put them in time order, so figures around them may be off. ` +
          `perf script puts them in order: perf script -i FILE | gil-stats (or GILPIPE_PERF_SCRIPT=1)`,
      );
    }
    if (this.stats.dwarf > 0) {
      notes.push(`${this.stats.dwarf} samples have DWARF callchains (--call-graph dwarf): their user frames are perf script's to unwind, so only their kernel frames are here (give the perf.data by its path)`);
    }
    // Each reason once, over all inputs.
    return [...notes, ...new Set([...this.symbolNotes, ...this.symbols.notes()])];
  }

  /** Byte `n` of the current buffer as an offset in the file (or the stream). */
  private at(n: number): number {
    const s = this.base + n;
    return this.dataAt !== undefined && s >= this.dataAt.stream ? s - this.dataAt.stream + this.dataAt.file : s;
  }

  private fail(why: string): void {
    this.broken = true;
    this.buf = Buffer.alloc(0);
    if (this.ctx.broken !== undefined) this.ctx.broken(why);
    else this.ctx.malformed(why);
  }

  private resetThreads(): void {
    this.threads.clear();
    this.threads.set(0, { pid: 0, comm: 'swapper', named: true });
  }

  /** Reads every whole record in buf; returns the bytes used. */
  private consume(): number {
    const b = this.buf;
    let p = 0;
    if (!this.started) {
      if (b.length < 16) return 0;
      const order = magicOrder(b);
      if (order === undefined) throw new Broken('not a perf.data file (no PERFILE2 magic)');
      const size = order.u64(b, 8);
      if (size !== 16) {
        throw new Broken(
          'a perf.data written to a file, read as a stream (stdin, or gzipped): perf keeps its header at the end of such a file, so give its path, uncompressed',
        );
      }
      this.order = order;
      this.started = true;
      p = 16;
    }
    const o = this.order!;
    while (b.length - p >= 8) {
      const type = o.u32(b, p);
      const size = o.u16(b, p + 6);
      if (size < 8) throw new Broken(`corrupt at byte ${this.at(p)}: a ${recordName(type)} record of ${size} bytes`);
      if (b.length - p < size) break;
      let extra = 0;
      if (type === RECORD.HEADER_TRACING_DATA) {
        if (size < 12) throw new Broken(`corrupt at byte ${this.at(p)}: a HEADER_TRACING_DATA record of ${size} bytes`);
        extra = o.u32(b, p + 8);
      } else if (type === RECORD.AUXTRACE && size >= 16) {
        extra = o.u64(b, p + 8);
      }
      if (b.length - p < size + extra) break;
      this.record(type, b, p, size, extra);
      p += size + extra;
    }
    return p;
  }

  private record(type: number, b: Buffer, p: number, size: number, extra: number): void {
    this.stats.records++;
    this.recordAt = p;
    const o = this.order!;
    const misc = o.u16(b, p + 4);
    switch (type) {
      case RECORD.SAMPLE:
        return this.sample(b, p, size);
      case RECORD.FINISHED_ROUND:
        this.flushQueue(this.nextFlush);
        this.nextFlush = this.maxTs;
        return;
      case RECORD.HEADER_ATTR: {
        const a = this.guard(p, 'HEADER_ATTR', () => parseAttr(b, p + 8, o));
        const attrSize = o.u32(b, p + 12);
        for (let q = p + 8 + attrSize; q + 8 <= p + size; q += 8) a.ids.push(o.u64(b, q));
        const desc = this.eventDescNames[this.attrs.length];
        if (desc !== undefined) a.name = desc;
        this.attrs.push(a);
        for (const id of a.ids) this.byId.set(id, a);
        return;
      }
      case RECORD.HEADER_TRACING_DATA:
        try {
          for (const [id, f] of parseTracingData(b.subarray(p + size, p + size + extra))) this.formats.set(id, f);
        } catch (e) {
          if (e instanceof TracingDataError || e instanceof RangeError) throw new Broken(`corrupt at byte ${this.at(p)}: ${e.message}`);
          throw e;
        }
        return;
      case RECORD.HEADER_BUILD_ID:
        if (size >= 36) this.buildId(b, p, size, misc);
        return;
      case RECORD.HEADER_FEATURE:
        if (size >= 16) this.guard(p, 'HEADER_FEATURE', () => this.feature(o.u64(b, p + 8), b.subarray(p + 16, p + size)));
        return;
      case RECORD.EVENT_UPDATE:
        // PERF_EVENT_UPDATE__NAME (2): the event's name, NUL-terminated.
        if (size >= 24 && o.u64(b, p + 8) === 2) {
          const a = this.byId.get(o.u64(b, p + 16));
          if (a !== undefined) a.name = cstring(b, p + 24, p + size);
        }
        return;
      case RECORD.GILPIPE_DATA_AT:
        if (size >= 16) this.dataAt = { stream: this.base + p + size, file: o.u64(b, p + 8), tailLost: size >= 24 && o.u64(b, p + 16) === 1 };
        if (size >= 56) {
          this.facts.layout = [o.u64(b, p + 24), o.u64(b, p + 32), o.u64(b, p + 40)];
          const mtime = o.u64(b, p + 48);
          if (mtime > 0) this.facts.mtimeMs = mtime;
        }
        return;
      case RECORD.COMPRESSED:
        throw new Broken(`at byte ${this.at(p)}: compressed records (perf record -z) are not read here: perf script reads them (perf-parse -i FILE)`);
    }
    if (NAMES[type] === undefined) {
      // Its size frames it, so what follows is read; but perf 6.1 writes no such record, and perf script stops at one: said, not skipped in silence.
      return this.unusable(p, `a record of type ${type}, which perf writes none of (a corrupt record, or a newer perf's): skipped`);
    }
    if (type >= 64) return; // other user records: nothing perf script prints
    this.sideband(type, misc, b, p, size);
  }

  /** A parse of header bytes whose framing was fine but whose content is not. */
  private guard<T>(p: number, what: string, f: () => T): T {
    try {
      return f();
    } catch (e) {
      if (e instanceof RangeError || e instanceof TracingDataError) throw new Broken(`corrupt at byte ${this.at(p)}: a ${what} record: ${e.message}`);
      throw e;
    }
  }

  private feature(id: number, d: Buffer): void {
    const o = this.order!;
    const facts = this.facts;
    switch (id) {
      case FEATURE.TRACING_DATA:
        for (const [k, f] of parseTracingData(d)) this.formats.set(k, f);
        return;
      case STRING_FEATURES.HOSTNAME:
      case STRING_FEATURES.OSRELEASE:
      case STRING_FEATURES.VERSION:
      case STRING_FEATURES.ARCH:
      case STRING_FEATURES.CPUDESC:
      case STRING_FEATURES.CPUID: {
        const s = headerString(d, 0, o).s;
        facts.strings.set(id, s);
        if (id === FEATURE.HOSTNAME) this.info.hostname = s;
        if (id === FEATURE.OSRELEASE) this.info.osrelease = s;
        this.symbols.recordedOn(this.info.hostname, this.info.osrelease);
        return;
      }
      case FEATURE.NRCPUS:
        // Written as nr_cpus_avail, then nr_cpus_online.
        facts.nrcpus = [o.u32(d, 4), o.u32(d, 0)];
        return;
      case FEATURE.TOTAL_MEM:
        facts.totalMem = o.u64(d, 0);
        return;
      case FEATURE.SAMPLE_TIME:
        facts.sampleTime = [o.u64(d, 0), o.u64(d, 8)];
        return;
      case FEATURE.CLOCKID:
        facts.clockResNs = this.info.clockResNs = o.u64(d, 0);
        return;
      case FEATURE.CLOCK_DATA:
        facts.clockData = { clockid: o.u32(d, 4), todNs: o.u64(d, 8), clockNs: o.u64(d, 16) };
        this.info.clockid = facts.clockData.clockid;
        return;
      case FEATURE.PMU_MAPPINGS: {
        const n = o.u32(d, 0);
        let q = 4;
        const maps: Array<[string, number]> = [];
        for (let i = 0; i < n; i++) {
          const type = o.u32(d, q);
          const r = headerString(d, q + 4, o);
          maps.push([r.s, type]);
          q = r.next;
        }
        facts.pmuMappings = maps;
        return;
      }
      case FEATURE.CMDLINE: {
        const n = o.u32(d, 0);
        let q = 4;
        const args: string[] = [];
        for (let i = 0; i < n; i++) {
          const r = headerString(d, q, o);
          args.push(r.s);
          q = r.next;
        }
        this.info.cmdline = facts.cmdline = args;
        return;
      }
      case FEATURE.EVENT_DESC: {
        const n = o.u32(d, 0);
        const attrSize = o.u32(d, 4);
        let q = 8;
        for (let i = 0; i < n; i++) {
          q += attrSize;
          const nrIds = o.u32(d, q);
          const r = headerString(d, q + 4, o);
          q = r.next;
          const ids: number[] = [];
          for (let k = 0; k < nrIds; k++) ids.push(o.u64(d, q + 8 * k));
          q += 8 * nrIds;
          this.eventDescNames[i] = r.s;
          const a = ids.length > 0 ? this.byId.get(ids[0]!) : this.attrs[i];
          if (a !== undefined) a.name = r.s;
        }
        return;
      }
    }
  }

  /** Whether perf-parse's perf script shows every sample's ip (it asks for +ip,+sym,+dso when an event has callchains). */
  private ipShown(): boolean {
    this.showsIp ??= this.attrs.some((a) => (a.sampleType & SAMPLE.CALLCHAIN) !== 0);
    return this.showsIp;
  }

  private attrOf(id: number | undefined): Attr | undefined {
    if (this.attrs.length === 1 || id === undefined) return this.attrs[0];
    return this.byId.get(id);
  }

  private nameOf(a: Attr): string {
    a.name ??= fallbackName(a, (id) => {
      const f = this.formats.get(id);
      return f && `${f.system}:${f.name}`;
    });
    return a.name;
  }

  private sample(b: Buffer, p: number, size: number): void {
    const o = this.order!;
    const end = p + size;
    const first = this.attrs[0];
    if (first === undefined) return this.unusable(p, 'a SAMPLE before any event attribute');
    let id: number | undefined;
    if (this.attrs.length > 1 && first.sampleIdAt >= 0) id = p + 8 + first.sampleIdAt + 8 <= end ? o.u64(b, p + 8 + first.sampleIdAt) : -1;
    const a = this.attrOf(id);
    if (a === undefined) {
      // The id as perf wrote it: a double would print 2^64 - 1 as 18446744073709552000.
      const at = p + 8 + first.sampleIdAt;
      const exact = id !== undefined && id >= 0 ? String(o.little ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)) : String(id);
      return this.unusable(p, `a SAMPLE of event id ${exact}, which no attribute has`);
    }
    const st = a.sampleType;
    let q = p + 8;
    if (st & SAMPLE.IDENTIFIER) q += 8;
    const ipAt = st & SAMPLE.IP ? q : -1;
    if (st & SAMPLE.IP) {
      if (q + 8 > end) return this.short(p);
      q += 8;
    }
    let pid: number | undefined;
    let tid: number | undefined;
    if (st & SAMPLE.TID) {
      if (q + 8 > end) return this.short(p);
      pid = o.i32(b, q);
      tid = o.i32(b, q + 4);
      q += 8;
    }
    let ts = 0;
    if (st & SAMPLE.TIME) {
      if (q + 8 > end) return this.short(p);
      ts = o.u64(b, q);
      q += 8;
    }
    if (st & SAMPLE.ADDR) q += 8;
    if (st & SAMPLE.ID) q += 8;
    if (st & SAMPLE.STREAM_ID) q += 8;
    let cpu: number | undefined;
    if (st & SAMPLE.CPU) {
      if (q + 8 > end) return this.short(p);
      cpu = o.u32(b, q);
      q += 8;
    }
    let period: number | undefined;
    if (st & SAMPLE.PERIOD) {
      if (q + 8 > end) return this.short(p);
      period = o.u64(b, q);
      q += 8;
    }
    if (st & SAMPLE.READ) {
      if (q + 8 > end) return this.short(p);
      q += readSize(a, b, q, o);
    }
    let chain: Buffer | undefined;
    if (st & SAMPLE.CALLCHAIN) {
      if (q + 8 > end) return this.short(p);
      const nr = o.u64(b, q);
      q += 8;
      if (q + 8 * nr > end) return this.short(p);
      // A copy: the queue would otherwise keep the whole chunk it came in.
      chain = Buffer.from(b.subarray(q, q + 8 * nr));
      q += 8 * nr;
    }
    // The raw data is read where it lies (rawAt, rawLen), a Buffer of its own made only when printed generically.
    let rawAt = -1;
    let rawLen = 0;
    if (st & SAMPLE.RAW) {
      if (q + 4 > end) return this.short(p);
      rawLen = o.u32(b, q);
      if (q + 4 + rawLen > end) return this.short(p);
      rawAt = q + 4;
      q += 4 + rawLen;
    }
    const event = this.nameOf(a);
    let s: SampleRecord;
    // Made whole when it can be: properties added one by one to a literal go to a store of their own.
    if (pid !== undefined && tid !== undefined && cpu !== undefined) s = { type: 'sample', ts, event, comm: '', pid, tid, cpu };
    else {
      s = { type: 'sample', ts, event, comm: '' };
      if (pid !== undefined) s.pid = pid;
      if (tid !== undefined) s.tid = tid;
      if (cpu !== undefined) s.cpu = cpu;
    }
    // A sample of code shows its period and the offset of each frame in its symbol, as perf script's default fields for it do.
    const code = samplesCode(a);
    // Without PERIOD in sample_type perf takes the attribute's fixed period (evsel__parse_sample), as perf script prints it.
    const every = period ?? a.fixedPeriod;
    if (code && every !== undefined) s.period = every;
    if (a.type === ATTR_TYPE.TRACEPOINT && rawAt >= 0) {
      const f = this.formats.get(a.config);
      if (f !== undefined && rawLen < f.size) return this.unusable(p, `a ${event} sample of ${rawLen} bytes of data, where its format has ${f.size}`);
      if (f?.payload !== undefined) f.payload(b, rawAt, rawLen, o, s);
      else {
        const text = f === undefined ? '' : f.print(b.subarray(rawAt, rawAt + rawLen), o);
        if (text.length > 0) Object.assign(s, parsePayload(event, text));
      }
    }
    if (chain !== undefined) {
      s.callchain = [];
      (s as Unnamed)[UNNAMED] = { chain, code };
      if (st & (SAMPLE.REGS_USER | SAMPLE.STACK_USER)) this.stats.dwarf++;
    } else if (ipAt >= 0 && (code || this.ipShown())) {
      // A sample of code shows its ip; so does any sample when perf-parse asks perf script for ip, sym and dso (a recording with callchains).
      s.ip = { addr: '' };
      const lo = o.little ? b.readUInt32LE(ipAt) : b.readUInt32BE(ipAt + 4);
      const hi = o.little ? b.readUInt32LE(ipAt + 4) : b.readUInt32BE(ipAt);
      (s as Unnamed)[UNNAMED] = { hi, lo, kernel: (o.u16(b, p + 4) & 7) === MISC_CPUMODE_KERNEL, code };
    }
    this.stats.samples++;
    this.enqueue(ts, s);
  }

  /** perf delivers records without a time at once, the others in time order. */
  private enqueue(ts: number, rec: Queued): void {
    if (ts === 0) return this.deliver(rec);
    if (ts > MAX_TIME) {
      // A u64 past what a double keeps exact, and past any clock perf reads: a corrupt record.
      return this.unusable(this.recordAt, `a ${recordName(this.order!.u32(this.buf, this.recordAt))} record at ${ts} ns, past the 2^63 ns a perf clock can reach`);
    }
    if (ts < this.overflowTs && rec.type !== 'mmap') this.stats.late++;
    this.queue.push(rec);
    if (ts > this.maxTs) this.maxTs = ts;
    if (this.queue.length > (this.opts.queueMax ?? QUEUE_MAX)) {
      this.flushQueue(-1);
      const limit = this.queue[this.queue.length >> 1]!.ts;
      if (limit > this.overflowTs) this.overflowTs = limit;
      this.flushQueue(limit);
    }
  }

  /** Delivers the records up to `limit` in time order (-1: only sorts them). */
  private flushQueue(limit: number): void {
    const q = this.queue;
    if (q.length === 0) return;
    // Mostly in order already: a stable sort keeps arrival order among equal times, as perf's queue does.
    let sorted = true;
    for (let i = 1; i < q.length; i++) {
      if (q[i]!.ts < q[i - 1]!.ts) {
        sorted = false;
        break;
      }
    }
    if (!sorted) q.sort((x, y) => x.ts - y.ts);
    let n = 0;
    while (n < q.length && q[n]!.ts <= limit) this.deliver(q[n++]!);
    this.queue = n === q.length ? [] : q.slice(n);
  }

  private thread(pid: number, tid: number): Thread {
    let t = this.threads.get(tid);
    if (t === undefined) {
      t = { pid, comm: `:${tid}`, named: false };
      this.threads.set(tid, t);
    } else if (t.pid === -1) t.pid = pid;
    return t;
  }

  /** perf script --header's block, once, before the first record (perf-parse emits it so). */
  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.facts.layout ??= [0, 0, 0];
    const o = this.order!;
    const events = this.attrs.map((a) => ({ name: this.nameOf(a), attrs: eventAttrs(a, o).trim() }));
    const rec: HeaderRecord = { type: 'header', meta: headerMeta(this.facts), events };
    this.emit(rec);
  }

  private deliver(r: Queued): void {
    if (r.type === 'mmap') {
      this.symbols.mmap(r.pid, r.b, 16, this.order!, r.len, r.pgoff, r.filename, r.prot, r.kernel);
      return;
    }
    if (!this.headerSent) this.sendHeader();
    if (r.type === 'sample') {
      const t = this.thread(r.pid ?? -1, r.tid ?? -1);
      r.comm = t.comm;
      const u = (r as Unnamed)[UNNAMED];
      if (u !== undefined) {
        if ('chain' in u) r.callchain = this.symbols.resolve(r.pid ?? -1, u.chain, 0, u.chain.length / 8, this.order!, u.code);
        else r.ip = this.symbols.ip(r.pid ?? -1, u.hi, u.lo, u.kernel, u.code);
        (r as Unnamed)[UNNAMED] = undefined;
      }
    } else if (r.type === 'comm') {
      const t = this.thread(r.pid, r.tid);
      t.comm = r.comm;
      t.named = true;
    } else if (r.type === 'fork') {
      // machine__process_fork_event: a parent of another process is a stale thread; a child is always new.
      let parent = this.thread(r.ppid, r.ptid);
      if (parent.pid !== r.ppid) {
        this.threads.delete(r.ptid);
        parent = this.thread(r.ppid, r.ptid);
      }
      this.threads.delete(r.tid);
      const child = this.thread(r.pid, r.tid);
      if (parent.named) {
        child.comm = parent.comm;
        child.named = true;
      }
      this.symbols.fork(r.pid, r.tid, r.ppid, this.synthesized.has(r));
    } else if (r.type === 'exit') {
      this.symbols.exit(r.pid, r.tid);
    }
    this.emit(r);
  }

  private sideband(type: number, misc: number, b: Buffer, p: number, size: number): void {
    const o = this.order!;
    const end = p + size;
    // The sample_id trailer: pid/tid, time, id, stream id, cpu, identifier.
    const first = this.attrs[0];
    let a: Attr | undefined = first;
    if (first !== undefined && this.attrs.length > 1 && first.sampleIdAll && first.trailerIdFromEnd > 0 && end - first.trailerIdFromEnd >= p + 8) {
      a = this.byId.get(o.u64(b, end - first.trailerIdFromEnd)) ?? first;
    }
    let ts = 0;
    let cpu: number | undefined;
    let spid: number | undefined;
    let stid: number | undefined;
    let bodyEnd = end;
    if (a !== undefined && a.sampleIdAll) {
      let q = end - a.idTrailer;
      if (q < p + 8) return this.short(p);
      bodyEnd = q;
      const st = a.sampleType;
      if (st & SAMPLE.TID) {
        spid = o.i32(b, q);
        stid = o.i32(b, q + 4);
        q += 8;
      }
      if (st & SAMPLE.TIME) {
        ts = o.u64(b, q);
        q += 8;
      }
      if (st & SAMPLE.ID) q += 8;
      if (st & SAMPLE.STREAM_ID) q += 8;
      if (st & SAMPLE.CPU) cpu = o.u32(b, q);
    } else {
      cpu = 0;
    }
    const c = cpu !== undefined ? { cpu } : {};
    const body = bodyEnd - p;
    switch (type) {
      case RECORD.COMM: {
        if (body < 16) return this.short(p);
        const pid = o.i32(b, p + 8);
        const tid = o.i32(b, p + 12);
        const comm = utf8(cstring(b, p + 16, bodyEnd));
        return this.enqueue(ts, { type: 'comm', ts, ...c, pid, tid, comm, exec: (misc & MISC_COMM_EXEC) !== 0 });
      }
      case RECORD.FORK:
      case RECORD.EXIT: {
        if (body < 32) return this.short(p);
        const rec: Timed = {
          type: type === RECORD.FORK ? 'fork' : 'exit',
          ts,
          ...c,
          pid: o.i32(b, p + 8),
          tid: o.i32(b, p + 16),
          ppid: o.i32(b, p + 12),
          ptid: o.i32(b, p + 20),
        };
        if (type === RECORD.FORK && (misc & MISC_FORK_EXEC) !== 0) this.synthesized.add(rec);
        return this.enqueue(ts, rec);
      }
      case RECORD.LOST: {
        if (body < 24) return this.short(p);
        const lost = o.u64(b, p + 16);
        this.stats.lost += lost;
        return this.enqueue(ts, { type: 'lost', ts, ...c, lost });
      }
      case RECORD.LOST_SAMPLES:
        // perf record writes these at the end, per event; perf script (6.1) prints none of them, so they are only counted.
        if (body < 16) return this.short(p);
        this.stats.lostSamples += o.u64(b, p + 8);
        return;
      case RECORD.SWITCH:
      case RECORD.SWITCH_CPU_WIDE: {
        // perf_event__fprintf_switch's words, as perf-parse keeps them (padding trimmed).
        const out = (misc & MISC_SWITCH_OUT) !== 0;
        const inOut = !out ? 'IN' : (misc & MISC_SWITCH_OUT_PREEMPT) !== 0 ? 'OUT preempt' : 'OUT';
        let text = inOut;
        if (type === RECORD.SWITCH_CPU_WIDE) {
          if (body < 16) return this.short(p);
          const padded = !out ? 'IN         ' : inOut.padEnd(11);
          text = `${padded}  ${out ? 'next' : 'prev'} pid/tid: ${String(o.i32(b, p + 8)).padStart(5)}/${String(o.i32(b, p + 12))}`;
        }
        return this.enqueue(ts, this.perfRecord(ts, c, type === RECORD.SWITCH ? 'SWITCH' : 'SWITCH_CPU_WIDE', text, spid, stid));
      }
      case RECORD.MMAP:
      case RECORD.MMAP2: {
        // MMAP: pid, tid, start, len, pgoff, filename. MMAP2 adds the device and inode (or a build id), prot and flags.
        const two = type === RECORD.MMAP2;
        if (body < (two ? 73 : 41)) return this.short(p);
        const filename = cstring(b, p + (two ? 72 : 40), bodyEnd);
        const prot = two ? o.u32(b, p + 64) : (misc & MISC_MMAP_DATA) !== 0 ? 1 : 4;
        if (two && (misc & MISC_MMAP_BUILD_ID) !== 0) {
          const n = Math.min(b[p + 40]!, 20);
          this.symbols.buildId(utf8(filename), b.toString('hex', p + 44, p + 44 + n));
        }
        const rec: MmapItem = {
          type: 'mmap',
          ts,
          pid: o.i32(b, p + 8),
          b: Buffer.from(b.subarray(p, p + 40)),
          len: o.u64(b, p + 24),
          pgoff: o.u64(b, p + 32),
          filename: utf8(filename),
          prot,
          kernel: (misc & 7) === MISC_CPUMODE_KERNEL,
        };
        return this.enqueue(ts, rec);
      }
    }
    // THROTTLE, NAMESPACES, KSYMBOL...: read by perf for other things, not printed with these options.
  }

  /** PERF_RECORD_HEADER_BUILD_ID (and each entry of the HEADER_BUILD_ID feature): pid, build id, file name. */
  private buildId(b: Buffer, p: number, size: number, misc: number): void {
    const n = (misc & MISC_BUILD_ID_SIZE) !== 0 ? Math.min(b[p + 32]!, 20) : 20;
    this.symbols.buildId(utf8(cstring(b, p + 36, p + size)), b.toString('hex', p + 12, p + 12 + n));
  }

  private perfRecord(ts: number, c: { cpu?: number }, name: string, body: string, pid: number | undefined, tid: number | undefined): Timed {
    const r: OtherRecord = { type: 'perf_record', ts, ...c, name, body };
    if (tid !== undefined) r.tid = tid;
    if (pid !== undefined) r.pid = pid;
    return r;
  }

  private short(p: number): void {
    this.unusable(p, `a ${recordName(this.order!.u32(this.buf, p))} record too short for its fields`);
  }

  private unusable(p: number, why: string): void {
    this.ctx.malformed(`byte ${this.at(p)}: ${why}`);
  }
}

/** A framing error: nothing after it can be read. */
class Broken extends Error {}

function cstring(b: Buffer, start: number, end: number): string {
  let e = start;
  while (e < end && b[e] !== 0) e++;
  return b.toString('latin1', start, e);
}

/** perf's header string: a u32 length (NUL padding included), then the bytes. */
function headerString(d: Buffer, q: number, o: ByteOrder): { s: string; next: number } {
  const len = o.u32(d, q);
  if (q + 4 + len > d.length) throw new RangeError('a string past the end of its section');
  return { s: cstring(d, q + 4, q + 4 + len), next: q + 4 + len };
}
