// The `perf script --header` block, from the recording's feature sections:
// the `# key : value` lines perf-parse keeps as a header record's `meta`,
// and the `# event : name = ...` lines as its `events`, worded as perf 6.1
// words them (tools/perf/util/header.c, perf_event_attr_fprintf.c), so a
// recording read here says what its perf script text says. Lines perf
// prints from sections read here only in part (topology, caches, missing
// features) are left out: docs/perf-data.md lists them.
import type { Attr } from './attr.js';
import type { ByteOrder } from './bytes.js';

/** What the file header and the features say, as collected while reading. */
export interface HeaderFacts {
  /** The perf.data's modification time (ms), as perf prints it: `captured on`. */
  mtimeMs?: number;
  /** file mode: data offset, data size, feature offset; pipe mode: zeros. */
  layout?: [number, number, number];
  strings: Map<number, string>;
  nrcpus?: [online: number, avail: number];
  totalMem?: number;
  cmdline?: string[];
  sampleTime?: [first: number, last: number];
  clockResNs?: number;
  clockData?: { clockid: number; todNs: number; clockNs: number };
  pmuMappings?: Array<[string, number]>;
}

export const STRING_FEATURES = { HOSTNAME: 3, OSRELEASE: 4, VERSION: 5, ARCH: 6, CPUDESC: 8, CPUID: 9 } as const;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** ctime(3) without its newline, in local time: `Tue Dec  1 13:45:52 2026`. */
export function ctime(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2)} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}

/** `SEC.USEC` of a time in ns, as perf's timestamp__scnprintf_usec. */
function usec(ns: number): string {
  return `${Math.floor(ns / 1e9)}.${String(Math.floor((ns % 1e9) / 1e3)).padStart(6, '0')}`;
}

const CLOCKS: Record<number, string> = { 0: 'realtime', 1: 'monotonic', 4: 'monotonic_raw', 7: 'boottime', 11: 'tai' };

/** The `# key : value` lines' keys and values, in perf's order. */
export function headerMeta(f: HeaderFacts): Record<string, string> {
  const m: Record<string, string> = {};
  if (f.mtimeMs !== undefined) m['captured on'] = ctime(f.mtimeMs);
  if (f.layout !== undefined) {
    m['header version'] = '1';
    m['data offset'] = String(f.layout[0]);
    m['data size'] = String(f.layout[1]);
    m['feat offset'] = String(f.layout[2]);
  }
  const s = (id: number, key: string): void => {
    const v = f.strings.get(id);
    if (v !== undefined) m[key] = v;
  };
  s(STRING_FEATURES.HOSTNAME, 'hostname');
  s(STRING_FEATURES.OSRELEASE, 'os release');
  s(STRING_FEATURES.VERSION, 'perf version');
  s(STRING_FEATURES.ARCH, 'arch');
  if (f.nrcpus !== undefined) {
    m['nrcpus online'] = String(f.nrcpus[0]);
    m['nrcpus avail'] = String(f.nrcpus[1]);
  }
  s(STRING_FEATURES.CPUDESC, 'cpudesc');
  s(STRING_FEATURES.CPUID, 'cpuid');
  if (f.totalMem !== undefined) m['total memory'] = `${f.totalMem} kB`;
  if (f.cmdline !== undefined) m['cmdline'] = f.cmdline.join(' ');
  if (f.pmuMappings !== undefined) m['pmu mappings'] = f.pmuMappings.map(([name, type]) => `${name} = ${type}`).join(', ');
  if (f.sampleTime !== undefined && f.sampleTime[0] !== 0) {
    m['time of first sample'] = usec(f.sampleTime[0]);
    m['time of last sample'] = usec(f.sampleTime[1]);
    m['sample duration'] = `${((f.sampleTime[1] - f.sampleTime[0]) / 1e6).toFixed(3)} ms`;
  }
  if (f.clockResNs !== undefined && f.clockResNs > 0) m['clockid frequency'] = `${Math.floor(1000 / f.clockResNs)} MHz`;
  if (f.clockData !== undefined) {
    const c = f.clockData;
    m['clockid'] = `${CLOCKS[c.clockid] ?? 'unknown'} (${c.clockid})`;
  }
  return m;
}

const SAMPLE_NAMES = ['IP', 'TID', 'TIME', 'ADDR', 'READ', 'CALLCHAIN', 'ID', 'CPU', 'PERIOD', 'STREAM_ID', 'RAW', 'BRANCH_STACK', 'REGS_USER', 'STACK_USER', 'WEIGHT', 'DATA_SRC', 'IDENTIFIER', 'TRANSACTION', 'REGS_INTR', 'PHYS_ADDR', 'AUX', 'CGROUP', 'DATA_PAGE_SIZE', 'CODE_PAGE_SIZE', 'WEIGHT_STRUCT'];
const READ_NAMES = ['TOTAL_TIME_ENABLED', 'TOTAL_TIME_RUNNING', 'ID', 'GROUP', 'LOST'];
/** The attribute's flag bits in declaration order (precise_ip is two bits, at 15). */
const FLAGS = ['disabled', 'inherit', 'pinned', 'exclusive', 'exclude_user', 'exclude_kernel', 'exclude_hv', 'exclude_idle', 'mmap', 'comm', 'freq', 'inherit_stat', 'enable_on_exec', 'task', 'watermark', 'precise_ip', 'precise_ip', 'mmap_data', 'sample_id_all', 'exclude_host', 'exclude_guest', 'exclude_callchain_kernel', 'exclude_callchain_user', 'mmap2', 'comm_exec', 'use_clockid', 'context_switch', 'write_backward', 'namespaces', 'ksymbol', 'bpf_event', 'aux_output', 'cgroup', 'text_poke', 'build_id', 'inherit_thread', 'remove_on_exec', 'sigtrap'];

function bitNames(v: bigint, names: string[]): string {
  const out: string[] = [];
  for (let i = 0; i < names.length; i++) {
    if (v & (1n << BigInt(i))) {
      out.push(names[i]!);
      v &= ~(1n << BigInt(i));
    }
  }
  if (v !== 0n) out.push(`0x${v.toString(16)}`);
  return out.join('|');
}

/** The text after `# event : name = NAME,` for one event, as perf_event_attr__fprintf writes it. */
export function eventAttrs(a: Attr, order: ByteOrder): string {
  const b = a.raw;
  const size = b.length;
  const parts: string[] = [];
  if (a.ids.length > 0) parts.push(`id = { ${a.ids.join(', ')} }`);
  const u64 = (o: number): bigint => (o + 8 <= size ? order.u64big(b, o) : 0n);
  const u32 = (o: number): number => (o + 4 <= size ? order.u32(b, o) : 0);
  const put = (name: string, v: bigint | number, hex = false): void => {
    if (v === 0 || v === 0n) return;
    parts.push(`${name} = ${hex ? `0x${v.toString(16)}` : v.toString()}`);
  };
  put('type', u32(0));
  put('size', u32(4));
  put('config', u64(8), true);
  put('{ sample_period, sample_freq }', u64(16));
  const st = u64(24);
  if (st !== 0n) parts.push(`sample_type = ${bitNames(st, SAMPLE_NAMES)}`);
  const rf = u64(32);
  if (rf !== 0n) parts.push(`read_format = ${bitNames(rf, READ_NAMES)}`);
  for (let i = 0; i < FLAGS.length; i++) {
    if (i === 16) continue;
    const bits = i === 15 ? 2 : 1;
    let v = 0;
    for (let k = 0; k < bits; k++) if (order.flag(b, 40, i + k)) v |= 1 << k;
    put(FLAGS[i]!, v);
  }
  put('{ wakeup_events, wakeup_watermark }', u32(48));
  put('bp_type', u32(52));
  put('{ bp_addr, config1 }', u64(56), true);
  put('{ bp_len, config2 }', u64(64), true);
  put('branch_sample_type', u64(72), true);
  put('sample_regs_user', u64(80), true);
  put('sample_stack_user', u32(88));
  if (size >= 96) put('clockid', order.i32(b, 92));
  put('sample_regs_intr', u64(96), true);
  put('aux_watermark', u32(104));
  if (size >= 110) put('sample_max_stack', order.u16(b, 108));
  put('aux_sample_size', u32(112));
  put('sig_data', u64(120));
  return parts.length > 0 ? `, ${parts.join(', ')}` : '';
}
