// Keeps our uprobes in every process while we record, against a kernel race.
//
// perf record of a command counts the probes per task (inherited by each
// child). When one of those tasks ends while another is starting (a shell
// running `python app.py & other`, a pool starting workers as others exit),
// the kernel can take the probes out of the one starting: its probe hits stop
// for good and its threads look as if they never took the GIL. Measured on
// 6.18: 6 of 20 recordings of `sh -c 'python ... & ls; wait'` lost the
// thread's hits (test/live/probe-keeper.test.ts).
//
// A system-wide counter on the same probes (perf stat -a) makes the kernel
// keep them in every process that maps the file, so nothing removes them.
// The cost: while gil-record runs, other processes using the same libpython
// take the probes' traps too (a few microseconds each); they are counted,
// never recorded.
//
// The keeper is `perf stat` in a session of its own (Ctrl-C in the terminal
// is for perf record), counting while its workload, a shell, reads a pipe
// from us: it ends when we close the pipe or die.
import { type ChildProcess, spawn } from 'node:child_process';
import { firstLine } from './errors.js';
import { killAndWaitSync } from './proc.js';

export interface Keeper {
  /** Ends the counting and waits for perf stat to let go of the probes (they cannot be removed before). */
  stop(): Promise<void>;
  /** The same for exit paths where nothing async runs any more: kills it and waits a little. */
  stopSync(): void;
}

// The workload says "ready" once perf stat has opened its counters (perf
// starts it only then) and waits for the end of its input.
const WORKLOAD = 'echo ready; read _';
const READY_TIMEOUT_MS = 10_000;

/**
 * Starts the keeper for the probe group's events. Resolves once it counts;
 * rejects with perf's message when it cannot start (the caller records
 * without it, with a warning). `started` gets the keeper as soon as perf stat
 * runs: a signal while it opens its counters must still be able to stop it,
 * since the probes cannot be removed while it holds them.
 */
export function keepProbes(group: string, started?: (k: Keeper) => void): Promise<Keeper> {
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn('perf', ['stat', '-a', '-x,', '-o', '/dev/null', '-e', `${group}:*`, '--', 'sh', '-c', WORKLOAD], {
        stdio: ['pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (e) {
      reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    started?.(keeperOf(child));
    let said = '';
    let errText = '';
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('perf stat did not start counting in 10 s'), READY_TIMEOUT_MS);
    child.on('error', (e) => fail(e.message));
    child.stdin?.on('error', () => undefined);
    child.stderr?.on('data', (b: Buffer) => {
      errText = (errText + b.toString('utf8')).slice(-4096);
    });
    child.stdout?.on('data', (b: Buffer) => {
      said += b.toString('utf8');
      if (settled || !said.includes('ready')) return;
      settled = true;
      clearTimeout(timer);
      // From here on it must never keep gil-record alive: we end it, or our end ends it.
      child.unref();
      for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
      resolve(keeperOf(child));
    });
    child.on('exit', (code, signal) => fail(firstLine(errText) || `perf stat ended (${signal ?? `status ${code}`}) before it counted`));
  });
}

function keeperOf(child: ChildProcess): Keeper {
  const exited = new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
  return {
    async stop(): Promise<void> {
      child.stdin?.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    stopSync(): void {
      if (child.exitCode !== null || child.signalCode !== null) return;
      killAndWaitSync(child.pid);
    },
  };
}
