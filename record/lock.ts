// One gil-record per perf.data: a second one writing the same file would
// destroy both recordings. The lock is a file beside it holding the owner's
// pid; a lock whose owner is gone (killed, the machine rebooted) is taken over.
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { EXIT_USAGE } from '../lib/errors.js';
import { describeIoError } from '../lib/io.js';
import { RecordError } from './errors.js';
import { pidRunsGilRecord } from './proc.js';

/** Takes the lock of `perfData` for this process, removed when it exits; refuses when a live owner has it. */
export function lockRecording(perfData: string): () => void {
  const path = `${perfData}.gil-record.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      const release = (): void => rmSync(path, { force: true });
      process.once('exit', release);
      return release;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
        // No such folder, no permission: perf could not write there either.
        throw new RecordError(`--perf-data ${perfData}: cannot create ${path}: ${describeIoError(e as Error)}`, EXIT_USAGE);
      }
      const owner = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && pidRunsGilRecord(owner)) {
        throw new RecordError(
          `another gil-record (pid ${owner}) is writing ${perfData}: wait for it, or record elsewhere with --perf-data OTHER.data (lock: ${path})`,
          EXIT_USAGE,
        );
      }
      // Its owner is gone (or its pid now runs something else): a stale lock.
      rmSync(path, { force: true });
    }
  }
  throw new RecordError(`cannot take the lock ${path}`, EXIT_USAGE);
}
