// A child's liveness as /proc tells it: a dead child keeps its /proc entry,
// as a zombie, until it is reaped, though its files (perf's hold on the
// probes among them) are already closed.
import { readFileSync } from 'node:fs';

/** The state letter of a /proc/PID/stat line; the name in parentheses may hold ") " itself. */
export function statState(stat: string): string | undefined {
  const close = stat.lastIndexOf(') ');
  return close < 0 ? undefined : stat[close + 2];
}

/** The process runs and is not a zombie. */
export function runs(pid: number): boolean {
  try {
    return statState(readFileSync(`/proc/${pid}/stat`, 'latin1')) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The process runs gil-record: a pid in a lock file or a probe group's name
 * may have been reused (pids wrap, a reboot starts them again) by a process
 * that is not one.
 */
export function pidRunsGilRecord(pid: number): boolean {
  try {
    return runs(pid) && /gil-record/.test(readFileSync(`/proc/${pid}/cmdline`, 'latin1'));
  } catch {
    return false;
  }
}

/** SIGKILL, then up to a second for it to be gone: for exit paths, where nothing async runs any more. */
export function killAndWaitSync(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  const sleeper = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 100 && runs(pid); i++) Atomics.wait(sleeper, 0, 0, 10);
}
