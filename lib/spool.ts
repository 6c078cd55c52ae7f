// A pipe can be read only once. A command that reads its inputs twice keeps
// a copy of a pipe's bytes in a temporary file while it reads them the first
// time, and reads that file the second time.
//
// The file is made in a directory of its own, created with a random name and
// mode 0700, and opened only if it does not exist yet: a name in /tmp that
// others can guess (the command and its pid) could be a symlink someone put
// there, and opening it for writing would overwrite whatever it points to.
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataError } from './errors.js';
import { readRawBytes } from './file-bytes.js';
import { describeIoError } from './io.js';

export class Spool {
  readonly path: string;
  private readonly dir: string;
  private fd: number | undefined;
  // Whatever ends the process (a closed stdout exits at once, so does a
  // second Ctrl-C), the copy goes with it.
  private readonly onExit = (): void => this.remove();

  /**
   * Creates a file in a new directory `name-XXXXXX` of the temporary
   * directory, readable by this user only, for the bytes of `input` (the name
   * errors give it).
   */
  constructor(
    name: string,
    private readonly input: string,
  ) {
    try {
      this.dir = mkdtempSync(join(tmpdir(), `${name}-`));
    } catch (e) {
      throw this.failed(e as Error);
    }
    this.path = join(this.dir, 'spool');
    process.once('exit', this.onExit);
    try {
      this.fd = openSync(this.path, 'wx', 0o600);
    } catch (e) {
      this.remove();
      throw this.failed(e as Error);
    }
  }

  /** The chunks of `source`, each written to the spool before it is passed on. */
  async *tee(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        try {
          writeSync(this.fd!, chunk);
        } catch (e) {
          throw this.failed(e as Error);
        }
        yield chunk;
      }
    } finally {
      this.close();
    }
  }

  /** The spooled bytes, from the start (each chunk valid until the next is asked for). */
  read(): Generator<Buffer> {
    return readRawBytes(this.path);
  }

  /** Removes the file; synchronous, so that it is safe right before an exit. */
  remove(): void {
    process.off('exit', this.onExit);
    this.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private failed(e: Error): DataError {
    return new DataError(`${this.input}: a pipe is read twice, from a copy kept in ${tmpdir()}, and the copy failed: ${describeIoError(e)}`);
  }

  private close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
