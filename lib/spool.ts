// A pipe can be read only once. A command that reads its inputs twice keeps
// a copy of a pipe's bytes in a temporary file while it reads them the first
// time, and reads that file the second time.
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readRawBytes } from './file-bytes.js';

export class Spool {
  readonly path: string;
  private fd: number | undefined;

  /** Creates `name` in the temporary directory, readable by this user only. */
  constructor(name: string) {
    this.path = join(tmpdir(), name);
    this.fd = openSync(this.path, 'w', 0o600);
  }

  /** The chunks of `source`, each written to the spool before it is passed on. */
  async *tee(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of source) {
        writeSync(this.fd!, chunk);
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
    this.close();
    rmSync(this.path, { force: true });
  }

  private close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}
