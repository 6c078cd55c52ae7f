// The I/O layer: every byte a command reads or writes goes through here.
// Inputs from files or stdin, gzip recognised by its magic bytes on every
// input; output to stdout or -o FILE (written beside and renamed, so a failed
// run never leaves half a file; `.gz` compresses); one table of the messages
// for read and write errors.
import { accessSync, closeSync, constants, createReadStream, createWriteStream, lstatSync, openSync, promises as fsp, readSync, realpathSync, rmSync, statSync, type Stats } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { BrokenInputError, DataError, EXIT_DATA, EXIT_OK, UsageError } from './errors.js';
import { commandName } from './cli.js';
import { forTerminalLines } from './escape.js';
import type { FileRegion } from './perf-data/file.js';
import type { Interrupt } from './signals.js';
import { SyncFileWriter } from './sync-file.js';
import { zlib } from './builtins.js';

export interface Input {
  /** Name used in diagnostics: the path, or `stdin`. */
  name: string;
  stream: Readable;
  /** True when the data comes from a pipe or terminal rather than a file. */
  isPipe: boolean;
  /**
   * A regular file read as it is (no gzip), open since openInput (a file
   * removed later is still read): for a reader that reads it into buffers of
   * its own (lib/run-stage.ts), which closes it. `stream` is then made only
   * when asked for.
   */
  file?: FileHandle;
  /** With `file`: what is read instead of the whole file (a perf.data's records, lib/perf-data/file.ts). */
  region?: FileRegion;
  /** For data a child process writes: resolves when it ended well, throws why it did not. */
  done?: () => Promise<void>;
  /**
   * What the input turns out to be, looked at when the runner comes to it
   * (lib/run-stage.ts), not when it is opened: FIFOs that one writer fills in
   * turn must be read in turn. A signal meanwhile makes it resolve with the
   * input as it is, for the runner to skip.
   */
  open?: (interrupt: Interrupt) => Promise<Input>;
}

/** What a failed read or write means, in the user's words. */
export function describeIoError(e: Error): string {
  const code = (e as NodeJS.ErrnoException).code;
  switch (code) {
    case 'Z_DATA_ERROR':
    case 'Z_BUF_ERROR':
      return `not valid gzip data (${e.message})`;
    case 'ENOENT':
      return 'no such file';
    case 'EISDIR':
      return 'is a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return e.message;
  }
}

/** A read failed part way (a read error, gzip cut short): what came before it went through, then exit 1, naming the input. */
export class ReadError extends BrokenInputError {
  constructor(
    readonly file: string,
    override readonly cause: Error,
  ) {
    super(`${file}: ${describeIoError(cause)}`);
  }
}

const GZIP_MAGIC = [0x1f, 0x8b];

/** Whether bytes begin as gzip does: how every input is told to be gzip. */
export function isGzip(head: Buffer): boolean {
  return head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
}

/** The first bytes of a regular file, to tell what it is without reading it. */
export function fileHead(path: string, n = 16): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * fileHead for a file the user named: one that cannot be opened (unreadable,
 * or gone since it was listed) is theirs to mend, a usage error naming it.
 */
export function inputHead(path: string, n = 16): Buffer {
  try {
    return fileHead(path, n);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'ENOENT' || code === 'EISDIR') throw new UsageError(`${path}: ${describeIoError(e as Error)}`);
    // The machine's trouble (EIO, EMFILE), not the invocation's: exit 1.
    throw new ReadError(path, e as Error);
  }
}

/**
 * Stdin can be read once: a second `-` would wait on a stream that has
 * ended, and the command would stop there, its output cut and its exit 0.
 */
export function stdinOnce(names: readonly string[]): void {
  if (names.filter((n) => n === '-').length > 1) throw new UsageError('stdin (-) can be given only once');
}

/** Opens `-` (stdin) or a path; a missing file or a directory is a usage error. */
export async function openInput(path: string): Promise<Input> {
  if (path === '-') return { name: 'stdin', stream: sniffGzip(process.stdin), isPipe: true };
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw new UsageError(`${path}: ${describeIoError(e as Error)}`);
  }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory`);
  const open = (): Readable => createReadStream(path, { highWaterMark: 64 * 1024 });
  if (!st.isFile()) return { name: path, stream: sniffGzip(open()), isPipe: true };
  if (isGzip(inputHead(path, 2))) return { name: path, stream: gunzipStream(open()), isPipe: false };
  return fileInput(path, path, (fh) => fh.createReadStream({ highWaterMark: 64 * 1024 }));
}

/**
 * A regular file opened now (one removed later is still read), which the
 * runner reads into buffers of its own (lib/run-stage.ts): whole, or only
 * `region`. The stream is made only if someone asks for it.
 */
export async function fileInput(path: string, name: string, makeStream: (fh: FileHandle) => Readable, region?: FileRegion): Promise<Input> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(path, 'r');
  } catch (e) {
    throw new ReadError(name, e as Error);
  }
  let stream: Readable | undefined;
  return {
    name,
    isPipe: false,
    file: fh,
    ...(region !== undefined ? { region } : {}),
    get stream(): Readable {
      return (stream ??= makeStream(fh));
    },
  };
}

function gunzipStream(raw: Readable): Readable {
  const gz = zlib().createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => gz.destroy(e));
  return raw.pipe(gz);
}

/** A stream that may be gzip (stdin, a FIFO): look at the first chunk to know. */
function sniffGzip(raw: Readable): Readable {
  let decided = false;
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  const onData = (chunk: Buffer): void => {
    if (!decided) {
      decided = true;
      if (isGzip(chunk)) {
        raw.off('data', onData);
        raw.off('end', onEnd);
        const gz = zlib().createGunzip({ chunkSize: 256 * 1024 });
        gz.on('error', (e) => out.destroy(e));
        gz.pipe(out);
        gz.write(chunk);
        raw.pipe(gz);
        return;
      }
    }
    if (!out.write(chunk)) {
      raw.pause();
      out.once('drain', () => raw.resume());
    }
  };
  const onEnd = (): void => void out.end();
  raw.on('data', onData);
  raw.on('end', onEnd);
  raw.on('error', (e) => out.destroy(e));
  out.on('close', () => {
    if (!raw.destroyed) raw.pause();
  });
  return out;
}

/**
 * The first `n` bytes of a stream (fewer when it ends first), and the stream
 * to read from then on, which gives those bytes again: the stream itself with
 * them put back, so that destroying it (a signal) closes what it reads; or,
 * when it ended or failed meanwhile, a stream of those bytes and that end or
 * failure.
 */
export async function peekStream(stream: Readable, n: number): Promise<{ head: Buffer; stream: Readable }> {
  const chunks: Buffer[] = [];
  let have = 0;
  let ended = false;
  let failure: Error | undefined;
  const onEnd = (): void => void (ended = true);
  const onError = (e: Error): void => void (failure = e);
  stream.on('end', onEnd);
  stream.on('error', onError);
  try {
    while (have < n && !ended && failure === undefined && !stream.destroyed) {
      const chunk = stream.read() as Buffer | null;
      if (chunk !== null) {
        chunks.push(chunk);
        have += chunk.length;
        continue;
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          for (const ev of ['readable', 'end', 'error', 'close']) stream.off(ev, done);
          resolve();
        };
        for (const ev of ['readable', 'end', 'error', 'close']) stream.on(ev, done);
      });
    }
  } finally {
    stream.off('end', onEnd);
    stream.off('error', onError);
  }
  const head = Buffer.concat(chunks);
  if (!ended && failure === undefined && !stream.destroyed) {
    if (head.length > 0) stream.unshift(head);
    return { head, stream };
  }
  // 'end' (or the failure) has been and gone: nothing can be put back, so the bytes and how it ended are told again.
  async function* again(): AsyncGenerator<Buffer> {
    if (head.length > 0) yield head;
    if (failure !== undefined) throw failure;
  }
  return { head, stream: Readable.from(again(), { objectMode: false }) };
}

/** A whole (small) file, gunzipped when it is gzip: summaries, configuration. */
export async function readWhole(path: string): Promise<Buffer> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(path === '-' ? '/dev/stdin' : path);
  } catch (e) {
    throw new UsageError(`${path}: ${describeIoError(e as Error)}`);
  }
  if (!isGzip(buf)) return buf;
  try {
    return zlib().gunzipSync(buf);
  } catch (e) {
    throw new DataError(`${path}: ${describeIoError(e as Error)}`);
  }
}

/**
 * The most one write() call hands the kernel, as cat and coreutils write.
 * On this machine (a Firecracker VM, Linux 6.18, ext4) writing 800 MB into
 * a new file a megabyte at a time cost 1.0-1.6 s of system time in most
 * runs, 85 % of it in copy_folio_from_iter_atomic: a big write is cached in
 * big folios, likely of guest memory the host must back anew; 128 KB at a
 * time never took more than 0.2 s. merge-trace on the 800 MB bench input
 * went from 2.84 to 1.85 s (4 interleaved runs each). Elsewhere the pieces
 * cost a few more calls: 6,400 for 800 MB.
 */
const PIECE = 128 << 10;

/**
 * Where a command writes. Stdout by default; `-o FILE` writes
 * .FILE.tmp-PID-RANDOM beside it and renames it on success, so an interrupted
 * or failed run leaves no half file. `.gz` compresses. The temporary file is
 * created, never opened if it exists: in a shared directory (`-o
 * /tmp/out.json`) a name others can guess could be a symlink they put there,
 * and writing through it would overwrite what it points to.
 */
export class Output {
  readonly stream: Writable;
  private readonly file: Writable | undefined;
  private readonly tmp: string | undefined;
  /** The file the temporary one replaces (a symlink's target), and that file as it was. */
  private readonly target: string | undefined;
  private readonly keep: Stats | undefined;
  private broken = false;
  private discarded = false;
  private readonly onExit = (): void => this.discard();

  /** Its write errors are said as the command's, naming the output only (not the input, as a Reporter would). */
  constructor(readonly path: string | undefined) {
    if (path === undefined || path === '-') {
      this.stream = process.stdout;
      this.tmp = undefined;
      this.file = undefined;
    } else {
      checkOutputPath('-o', path, false);
      const into = replaced(path);
      this.target = into?.path;
      this.keep = into?.was;
      this.tmp = into === undefined ? undefined : join(dirname(into.path), `.${basename(into.path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
      // A file is written as stdout writes one (lib/sync-file.ts); a device
      // or FIFO by a stream, so that a reader that stalls stalls the thread
      // pool, not this thread.
      this.file = this.tmp !== undefined ? new SyncFileWriter(this.tmp, 'wx') : createWriteStream(path, { highWaterMark: 1 << 20 });
      if (path.endsWith('.gz')) {
        const gz = zlib().createGzip({ level: 6 });
        gz.pipe(this.file);
        this.stream = gz;
      } else {
        this.stream = this.file;
      }
      this.file.on('error', (e: NodeJS.ErrnoException) => {
        // A write cut off by discard() (Ctrl-C, a failed stage) is not a write error.
        if (this.discarded) return;
        // -o /dev/stdout or a FIFO whose reader went (`| head`): a normal end, as on stdout.
        if (e.code === 'EPIPE' && this.tmp === undefined) process.exit(EXIT_OK);
        this.broken = true;
        // About the output, not an input: said without the input's name in front.
        const why = e.code === 'ENOENT' && !isDirectory(dirname(path)) ? `its folder ${dirname(path)} does not exist` : describeIoError(e);
        process.stderr.write(`${commandName()}: ${forTerminalLines(`${path}: cannot write: ${why}`)}\n`);
        this.discard();
        process.exit(EXIT_DATA);
      });
      // Whatever ends the process before the commit (a second Ctrl-C, a
      // closed pipe, an error), the half-written file goes with it.
      process.once('exit', this.onExit);
    }
    exitQuietlyOnClosedPipe(this.stream, () => this.discarded);
  }

  /** Writes, resolving once the stream wants more (backpressure); `written` is called once the stream is done with `s`. Bytes go in pieces of PIECE. */
  async write(s: string | Uint8Array, written?: () => void): Promise<void> {
    if (s.length === 0) return;
    if (typeof s !== 'string' && s.length > PIECE) {
      for (let at = 0; at < s.length; at += PIECE) {
        const last = at + PIECE >= s.length;
        if (!this.stream.write(s.subarray(at, at + PIECE), last ? written : undefined)) await once(this.stream, 'drain');
      }
      return;
    }
    if (!this.stream.write(s, written)) await once(this.stream, 'drain');
  }

  /** Finishes the output: flushes, closes, renames a file into place. */
  async commit(): Promise<void> {
    if (this.broken) return;
    if (this.stream === process.stdout) {
      // Resolve once everything written so far has reached the kernel.
      await new Promise<void>((res) => process.stdout.write('', () => res()));
      return;
    }
    const done = once(this.file!, 'close');
    this.stream.end();
    await done;
    if (this.tmp !== undefined) {
      if (this.keep !== undefined) await keepOwnerAndMode(this.tmp, this.keep);
      await fsp.rename(this.tmp, this.target!);
    }
    process.off('exit', this.onExit);
  }

  /** Removes a half-written file; stdout is left as it is. */
  discard(): void {
    if (this.tmp === undefined) return;
    this.discarded = true;
    try {
      this.stream.destroy();
    } catch {
      /* already gone */
    }
    // Synchronous: callers may exit right after, and the half file must go first.
    try {
      rmSync(this.tmp, { force: true });
    } catch {
      /* nothing to remove */
    }
  }
}

/**
 * Refuses, as a usage error, an output path that cannot be written: empty, a
 * directory, and with `folder`, in a folder that is missing or not writable.
 * For a command that works long before it writes (gil-record records first).
 */
export function checkOutputPath(flag: string, path: string, folder = true): void {
  if (path === '') throw new UsageError(`${flag} wants a file name`);
  if (isDirectory(path)) throw new UsageError(`${flag} ${path}: is a directory (${flag} wants a file)`);
  if (!folder) return;
  const dir = dirname(path);
  if (!isDirectory(dir)) throw new UsageError(`${flag} ${path}: its folder ${dir} does not exist`);
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write in ${dir}: ${describeIoError(e as Error)}`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Where `-o PATH` puts its temporary file's contents: the regular file PATH
 * names (through symlinks: `-o latest.json` pointing at a dated file updates
 * that file and keeps the link), with that file's stat to keep its mode and
 * owner; or undefined to write PATH in place. In place: devices, FIFOs and
 * sockets (renaming over them would replace the device), anything under /dev
 * or /proc (`-o /dev/stdout` with stdout on a file is a link to that file, and
 * renaming over it would replace /dev/stdout itself), and a dangling link
 * (writing creates the file it names).
 */
function replaced(path: string): { path: string; was: Stats | undefined } | undefined {
  if (isSystemPath(path)) return undefined;
  const st = statOrUndefined(path, lstatSync);
  if (st === undefined) return { path, was: undefined };
  if (st.isFile()) return { path, was: st };
  if (!st.isSymbolicLink()) return undefined;
  const to = statOrUndefined(path, statSync);
  if (to === undefined || !to.isFile()) return undefined;
  const real = realpathSync(path);
  return isSystemPath(real) ? undefined : { path: real, was: to };
}

function isSystemPath(path: string): boolean {
  return /^\/(dev|proc)(\/|$)/.test(resolve(path));
}

function statOrUndefined(path: string, how: (p: string) => Stats): Stats | undefined {
  try {
    return how(path);
  } catch {
    return undefined;
  }
}

/**
 * The replacement gets the replaced file's permissions, and its owner where
 * we may give it (root). Not set-user-ID or set-group-ID: new contents do not
 * inherit a privilege given to the old ones.
 */
async function keepOwnerAndMode(tmp: string, was: Stats): Promise<void> {
  await fsp.chmod(tmp, was.mode & 0o777);
  if (process.getuid?.() === 0 && (was.uid !== 0 || was.gid !== 0)) await fsp.chown(tmp, was.uid, was.gid);
}

/** `| head` closes our stdout: that is a normal end, not an error. */
export function exitQuietlyOnClosedPipe(stream: Writable, discarded: () => boolean = () => false): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // Writes cut off by discarding the output: the command decides how it ends.
    if (discarded()) return;
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT_OK);
    process.stderr.write(`${commandName()}: cannot write to stdout: ${forTerminalLines(describeIoError(e))}\n`);
    process.exit(EXIT_DATA);
  });
}
