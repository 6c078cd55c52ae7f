// Feeding whole files to byte consumers (a validating scan, say) on worker
// threads: such a scan is CPU-bound, so scanning several big files at once
// takes the time of the biggest instead of the sum.
import { availableParallelism } from 'node:os';
import { getAsset, isSea } from 'node:sea';
import { Worker, isMainThread, parentPort, workerData, type WorkerOptions } from 'node:worker_threads';
import { consumeFile, type ByteConsumer } from './file-bytes.js';

/**
 * How many worker threads a command may run at once: one per CPU, at most
 * MAX_WORKERS. Each costs about 15 MB, an isolate with the bundle, at any
 * input size: merge-trace of the 800 MB bench input peaked at 90 MB RSS on
 * 2 workers, 119 on 4 and 152 on 8 (made to start that many on this 2-CPU
 * machine). Three keep it near 105 MB on any machine, which the memory goal
 * (120 MB) asks for; more would scan faster where there are more CPUs.
 */
export function workerThreads(): number {
  return Math.min(availableParallelism(), MAX_WORKERS);
}

const MAX_WORKERS = 3;

/** Where a worker finds the consumer: the module's export `name(path, args)` returns one. */
export interface ConsumerModule {
  url: URL;
  name: string;
}

type MakeConsumer = (path: string, args: unknown) => ByteConsumer<unknown>;

/** The asset of the single executable that holds its own bundle (scripts/sea/build.mjs puts it there). */
export const SEA_BUNDLE = 'gilpipe.cjs';

// A bundle has no module files to import: its entry links the consumers in by name.
const linked = new Map<string, MakeConsumer>();

export function linkConsumer<A>(name: string, make: (path: string, args: A) => ByteConsumer<unknown>): void {
  linked.set(name, make as MakeConsumer);
}

let entry: URL | undefined;

/** The bundle's entry, which links the consumers: what a worker runs there (in sources, this module). */
export function setWorkerEntry(url: URL): void {
  entry = url;
}

async function load(m: { url: string; name: string }): Promise<MakeConsumer> {
  const fn = linked.get(m.name) ?? ((await import(m.url)) as Record<string, unknown>)[m.name];
  if (typeof fn !== 'function') throw new Error(`${m.url} has no function ${m.name}`);
  return fn as MakeConsumer;
}

const ROLE = 'consume-files';

/** What a worker runs: this module, or in the single executable (no files) the whole bundle, as source. */
function workerScript(): [string | URL, WorkerOptions] {
  if (isSea()) return [getAsset(SEA_BUNDLE, 'utf8'), { eval: true }];
  return [entry ?? new URL(import.meta.url), {}];
}

/**
 * Feeds each file to its own consumer and returns the results in the order
 * of `jobs`. With `parallel`, on up to one worker thread per CPU; results
 * then arrive as structured clones (a Buffer becomes a Uint8Array).
 */
export async function consumeFiles<A, R>(jobs: Array<{ path: string; args: A }>, module: ConsumerModule, parallel: boolean): Promise<R[]> {
  const threads = Math.min(jobs.length, workerThreads());
  if (!parallel || threads < 2) {
    const make = await load({ url: module.url.href, name: module.name });
    const out: R[] = [];
    for (const j of jobs) out.push((await consumeFile(j.path, make(j.path, j.args))) as R);
    return out;
  }
  const pool = new ConsumerPool<A, R>(module, threads);
  const results = jobs.map((j) => pool.consume(j));
  // Once one has failed, the others are not awaited: their failures are not news.
  for (const r of results) r.catch(() => undefined);
  try {
    return await Promise.all(results);
  } finally {
    await pool.close();
  }
}

/**
 * A worker's young generation, in MB. By default it grows to two
 * semi-spaces of 16 MB: merge-trace --align of the 800 MB bench input, its
 * pieces rewritten on a worker, peaked at 118-125 MB RSS; with 4 MB, at
 * 95-99 and the same speed. The scans of pass 1 take the same time with it.
 */
const POOL_YOUNG_MB = 4;

/**
 * Worker threads that take jobs as they come (consumeFiles takes them all
 * at once): each job's result as a promise, in any order; a job waits while
 * every thread is busy. The caller bounds how many it gives at a time, and
 * closes the pool, also when it fails.
 */
export class ConsumerPool<A, R> {
  private readonly idle: Worker[] = [];
  private readonly all: Worker[] = [];
  private readonly waiting: Array<(w: Worker) => void> = [];

  constructor(
    private readonly module: ConsumerModule,
    private readonly threads: number,
  ) {}

  async consume(job: { path: string; args: A }): Promise<R> {
    const w = await this.worker();
    try {
      return await new Promise<R>((res, rej) => {
        const off = (): void => {
          w.off('error', onError);
          w.off('exit', onExit);
          w.off('message', onMessage);
        };
        const onError = (e: Error): void => {
          off();
          rej(e);
        };
        // Stopped without an error (out of memory, say): the job would wait for ever.
        const onExit = (code: number): void => {
          off();
          rej(new Error(`a worker thread stopped (exit code ${code}) before its job was done`));
        };
        const onMessage = (r: R): void => {
          off();
          res(r);
        };
        w.once('error', onError);
        w.once('exit', onExit);
        w.once('message', onMessage);
        w.postMessage(job);
      });
    } finally {
      const next = this.waiting.shift();
      if (next !== undefined) next(w);
      else this.idle.push(w);
    }
  }

  private worker(): Promise<Worker> {
    const w = this.idle.pop();
    if (w !== undefined) return Promise.resolve(w);
    if (this.all.length < this.threads) {
      const [script, options] = workerScript();
      const made = new Worker(script, { ...options, resourceLimits: { maxYoungGenerationSizeMb: POOL_YOUNG_MB }, workerData: { role: ROLE, url: this.module.url.href, name: this.module.name } });
      this.all.push(made);
      return Promise.resolve(made);
    }
    return new Promise((res) => this.waiting.push(res));
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.terminate()));
    this.all.length = 0;
    this.idle.length = 0;
  }
}

/** True on a worker thread that consumeFiles started. */
export function isWorker(): boolean {
  return !isMainThread && (workerData as { role?: string } | null)?.role === ROLE;
}

if (isWorker()) {
  // Loaded at the first job, not now: a bundle's entry links its consumers after this module has run.
  let make: Promise<MakeConsumer> | undefined;
  parentPort!.on('message', (job: { path: string; args: unknown }) => {
    make ??= load(workerData as { url: string; name: string });
    void make.then((fn) => consumeFile(job.path, fn(job.path, job.args))).then((r) => parentPort!.postMessage(r));
  });
}
