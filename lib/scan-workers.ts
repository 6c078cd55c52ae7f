// Feeding whole files to byte consumers (a validating scan, say) on worker
// threads: such a scan is CPU-bound, so scanning several big files at once
// takes the time of the biggest instead of the sum.
import { availableParallelism } from 'node:os';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { consumeFile, type ByteConsumer } from './file-bytes.js';

/** Where a worker finds the consumer: the module's export `name(path, args)` returns one. */
export interface ConsumerModule {
  url: URL;
  name: string;
}

type MakeConsumer = (path: string, args: unknown) => ByteConsumer<unknown>;

async function load(m: { url: string; name: string }): Promise<MakeConsumer> {
  const fn = ((await import(m.url)) as Record<string, unknown>)[m.name];
  if (typeof fn !== 'function') throw new Error(`${m.url} has no function ${m.name}`);
  return fn as MakeConsumer;
}

const ROLE = 'consume-files';

/**
 * Feeds each file to its own consumer and returns the results in the order
 * of `jobs`. With `parallel`, on up to one worker thread per CPU; results
 * then arrive as structured clones (a Buffer becomes a Uint8Array).
 */
export async function consumeFiles<A, R>(jobs: Array<{ path: string; args: A }>, module: ConsumerModule, parallel: boolean): Promise<R[]> {
  const threads = Math.min(jobs.length, availableParallelism());
  if (!parallel || threads < 2) {
    const make = await load({ url: module.url.href, name: module.name });
    const out: R[] = [];
    for (const j of jobs) out.push((await consumeFile(j.path, make(j.path, j.args))) as R);
    return out;
  }
  const out: R[] = new Array(jobs.length);
  let next = 0;
  const runWorker = async (): Promise<void> => {
    const w = new Worker(new URL(import.meta.url), { workerData: { role: ROLE, url: module.url.href, name: module.name } });
    let fail: (e: Error) => void = () => undefined;
    w.on('error', (e) => fail(e));
    try {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await new Promise<R>((res, rej) => {
          fail = rej;
          w.once('message', res);
          w.postMessage(jobs[i]);
        });
      }
    } finally {
      await w.terminate();
    }
  };
  await Promise.all(Array.from({ length: threads }, runWorker));
  return out;
}

if (!isMainThread && (workerData as { role?: string } | null)?.role === ROLE) {
  const make = load(workerData as { url: string; name: string });
  parentPort!.on('message', (job: { path: string; args: unknown }) => {
    void make.then((fn) => consumeFile(job.path, fn(job.path, job.args))).then((r) => parentPort!.postMessage(r));
  });
}
