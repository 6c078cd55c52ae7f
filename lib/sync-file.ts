// A regular file written as process.stdout writes one (`> out.json`): each
// write made with writeSync, and called back on the next tick. A file's
// WriteStream hands every write to libuv's thread pool and back: on a 2-CPU
// machine merge-trace -o, which has nothing else to do meanwhile, took 2.38 s
// where the same merge to stdout on a file took 2.23 (the 800 MB bench input,
// 11 interleaved runs each; 2.25 s now), and to-trace -o 4 % more CPU.
import { closeSync, openSync, writeSync } from 'node:fs';
import { Writable } from 'node:stream';

export class SyncFileWriter extends Writable {
  private fd: number | undefined;

  /** Opens `path` with `flags` (as fs.open takes them) before the first write; failing, it emits the error as a stream does. */
  constructor(
    private readonly path: string,
    private readonly flags: string,
  ) {
    super();
  }

  override _construct(callback: (error?: Error | null) => void): void {
    try {
      this.fd = openSync(this.path, this.flags, 0o666);
      callback();
    } catch (e) {
      callback(e as Error);
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    try {
      // A regular file takes all of a write, unless the disk is full: then the next call says why.
      for (let at = 0; at < chunk.length; ) at += writeSync(this.fd!, chunk, at, chunk.length - at);
    } catch (e) {
      callback(e as Error);
      return;
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch (e) {
        error ??= e as Error;
      }
      this.fd = undefined;
    }
    callback(error);
  }
}
