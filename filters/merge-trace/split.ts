// Pass 1 scans each input on a thread of its own, so the biggest input set
// its pace: merging a 480 MB trace with a 320 MB one, one thread scanned
// for 1.5 s while the other had finished after 1.0. The biggest is cut at
// a byte that looks like the start of an event (`}, {`), and its parts
// scanned on threads of their own, each but the first assuming it starts
// there: in traceEvents, or in the top-level array when the file begins
// with `[`. The part before a cut checks that assumption when it gets there
// (lib/json-stream.ts knows its state exactly); where it was wrong (a
// `}, {` inside a string, or NDJSON) that part goes on to the end, and the
// work of the parts after it is dropped. The summaries are
// joined, and are what one scan of the whole file gives (a test holds them
// to it at random cuts).
import { closeSync, openSync, readSync } from 'node:fs';
import { consumeFile } from '../../lib/file-bytes.js';
import { consumeFiles, workerThreads } from '../../lib/scan-workers.js';
import { TraceScan, joinParts, type ScanOptions, type TraceSummary } from './scan.js';

export interface ScanJob {
  path: string;
  args: ScanOptions;
}

export interface ScanInput extends ScanJob {
  size: number;
}

/** How far past a wanted cut a start of an event is looked for. */
const WINDOW = 1 << 16;

/** Below this much input, starting scan workers costs more than it saves. */
const PARALLEL_ABOVE = 64 << 20;

/**
 * Pass 1 over regular files: on worker threads when there is much to read,
 * the biggest in parts; the summaries in the order of `inputs`.
 */
export async function scanFiles(inputs: ScanInput[]): Promise<TraceSummary[]> {
  const parallel = inputs.reduce((n, f) => n + f.size, 0) > PARALLEL_ABOVE;
  const scan = planScan(inputs, parallel ? workerThreads() : 1);
  const results = await consumeFiles<ScanOptions, TraceSummary>(scan.jobs, { url: new URL('./scan.js', import.meta.url), name: 'traceScan' }, parallel);
  return scan.summaries(results, (job) => consumeFile(job.path, new TraceScan(job.path, job.args)));
}

/**
 * The jobs that scan `inputs` (regular files) on `threads` threads, and how
 * their results become one summary per input. `rescan` scans a file whole,
 * from its start: for a part after a cut that is not usable, whose message
 * (its line number, which problem comes first) only a scan from the start gets right.
 */
export function planScan(inputs: ScanInput[], threads: number): { jobs: ScanJob[]; summaries: (results: TraceSummary[], rescan: (job: ScanJob) => Promise<TraceSummary>) => Promise<TraceSummary[]> } {
  const total = inputs.reduce((n, f) => n + f.size, 0);
  const share = Math.ceil(total / Math.max(threads, 1));
  let big = -1;
  for (const [i, f] of inputs.entries()) if (big === -1 || f.size > inputs[big]!.size) big = i;
  const { cuts, array } = threads >= 2 && big !== -1 && inputs[big]!.size > share ? cutsOf(inputs[big]!, share) : { cuts: [], array: false };
  if (cuts.length === 0) {
    return { jobs: inputs.map(({ path, args }) => ({ path, args })), summaries: async (results) => results };
  }
  // The parts of a share each first, then the other inputs (the biggest first), then the last part:
  // the threads that finish the others take it.
  const b = inputs[big]!;
  const bounds = [0, ...cuts, undefined];
  const parts: ScanJob[] = bounds.slice(0, -1).map((from, k) => ({ path: b.path, args: { ...b.args, part: { from, stopAt: bounds[k + 1], ...(array ? { array } : {}) } } }));
  const others = inputs.map((f, i) => ({ f, i })).filter(({ i }) => i !== big).sort((x, y) => y.f.size - x.f.size);
  const jobs = [...parts.slice(0, -1), ...others.map(({ f }) => ({ path: f.path, args: f.args })), parts.at(-1)!];
  return {
    jobs,
    summaries: async (results, rescan) => {
      const out: TraceSummary[] = new Array(inputs.length);
      others.forEach(({ i }, k) => (out[i] = results[parts.length - 1 + k]!));
      const partResults = [...results.slice(0, parts.length - 1), results.at(-1)!];
      out[big] = await joinAll(partResults, () => rescan({ path: b.path, args: b.args }), b.args.markEvery);
      return out;
    },
  };
}

/** One summary from the parts' in order: parts after one that went on to the end are dropped. */
async function joinAll(parts: TraceSummary[], rescan: () => Promise<TraceSummary>, markEvery?: number): Promise<TraceSummary> {
  let acc = parts[0]!;
  for (const next of parts.slice(1)) {
    // Unusable before the cut (its first problem), or on to the end: that is the file's summary.
    if (!acc.usable || acc.stoppedAt === undefined) return acc;
    if (!next.usable) return rescan();
    acc = joinParts(acc, next, markEvery);
  }
  return acc;
}

/**
 * Where to cut `f` into parts of `share` bytes (the last one shorter):
 * starts of events found near each multiple. None when the file begins with
 * neither `{` nor `[`: it is no trace, which a scan from its start says
 * best, or it is gzip (0x1f), which is read from its start only.
 */
function cutsOf(f: ScanInput, share: number): { cuts: number[]; array: boolean } {
  const cuts: number[] = [];
  let array = false;
  let fd: number;
  try {
    fd = openSync(f.path, 'r');
  } catch {
    return { cuts, array }; // gone or unreadable: the scan says so
  }
  try {
    const first = firstByte(fd);
    if (first !== 0x7b && first !== 0x5b) return { cuts, array };
    array = first === 0x5b;
    for (let at = share; at < f.size; at += share) {
      const cut = startNear(fd, at);
      if (cut === undefined || (cuts.length > 0 && cut <= cuts.at(-1)!)) break;
      cuts.push(cut);
    }
  } catch {
    /* a read that fails: the scan says so */
  } finally {
    closeSync(fd);
  }
  return { cuts, array };
}

/** The file's first byte that is not blank, or -1 when its first 4 KB are blank. */
function firstByte(fd: number): number {
  const b = Buffer.allocUnsafe(4096);
  const n = readSync(fd, b, 0, b.length, 0);
  for (let i = 0; i < n; i++) if (!isBlank(b[i]!)) return b[i]!;
  return -1;
}

/** The first byte at or after `at` in the file of an object that follows `}`, `,` and blanks: a likely event in traceEvents. */
function startNear(fd: number, at: number): number | undefined {
  const b = Buffer.allocUnsafe(WINDOW);
  const i = eventStartIn(b.subarray(0, readSync(fd, b, 0, WINDOW, at)));
  return i === -1 ? undefined : at + i;
}

/** The offset in `b` of the first `{` after `}`, `,` and blanks, or -1. */
export function eventStartIn(b: Buffer): number {
  const n = b.length;
  for (let i = b.indexOf(0x7d); i !== -1; i = b.indexOf(0x7d, i + 1)) {
    let j = i + 1;
    while (j < n && isBlank(b[j]!)) j++;
    if (j >= n || b[j] !== 0x2c) continue;
    j++;
    while (j < n && isBlank(b[j]!)) j++;
    if (j < n && b[j] === 0x7b) return j;
  }
  return -1;
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}
