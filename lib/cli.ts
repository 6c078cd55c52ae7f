// The one CLI contract every gilpipe command shares: options and --help through
// yargs, inputs from files or stdin (gzip read transparently), output to stdout
// or -o FILE (written beside and renamed, so a failed run never leaves half a
// file), diagnostics on stderr as `PROG: FILE:LINE: message`, exit codes
// 0 ok / 1 bad data / 2 usage, a closed downstream pipe exits 0.
import { createReadStream, createWriteStream, promises as fsp, rmSync } from 'node:fs';
import { once } from 'node:events';
import { createGunzip, createGzip } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { readFileSync, statSync } from 'node:fs';
import { dirname, join, basename } from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';

export const EXIT_OK = 0;
export const EXIT_DATA = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** A problem with the invocation: exit 2. */
export class UsageError extends Error {}
/** Input that cannot be used: exit 1, message without a stack trace. */
export class DataError extends Error {}

export function version(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const p of [join(here, '..', 'package.json'), join(here, '..', '..', 'package.json')]) {
    try {
      return JSON.parse(readFileSync(p, 'utf8')).version as string;
    } catch {
      /* try the next layout (source vs dist) */
    }
  }
  return '0.0.0';
}

/** Writes `PROG: message` lines to stderr; the only channel for diagnostics. */
export class Reporter {
  constructor(readonly prog: string) {}
  say(msg: string): void {
    process.stderr.write(`${this.prog}: ${msg}\n`);
  }
  at(file: string, line: number, msg: string): void {
    this.say(`${file}:${line}: ${msg}`);
  }
}

/**
 * Counts lines a stage could not use. Lenient (default): skip, count, and
 * summarise once at the end. Strict: the first one is fatal (exit 1).
 */
export class Malformed {
  count = 0;
  first: string | undefined;
  constructor(
    private readonly reporter: Reporter,
    private readonly strict: boolean,
    private readonly what = 'malformed line',
  ) {}
  add(file: string, line: number, why: string): void {
    this.count++;
    const where = `${file}:${line}: ${why}`;
    if (this.first === undefined) this.first = where;
    if (this.strict) throw new DataError(where);
  }
  summarise(): void {
    if (this.count === 0) return;
    const plural = this.count === 1 ? this.what : `${this.what}s`;
    this.reporter.say(`skipped ${this.count} ${plural} (first: ${this.first})`);
  }
}

export interface Input {
  /** Name used in diagnostics: the path, or `stdin`. */
  name: string;
  stream: Readable;
  /** True when the data comes from a pipe or terminal rather than a file. */
  isPipe: boolean;
}

export async function openInput(path: string): Promise<Input> {
  if (path === '-') {
    return { name: 'stdin', stream: maybeGunzipStdin(), isPipe: true };
  }
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory`);
  const raw = createReadStream(path, { highWaterMark: 64 * 1024 });
  const stream = path.endsWith('.gz') ? pipeGunzip(raw, path) : raw;
  return { name: path, stream, isPipe: !st.isFile() };
}

function pipeGunzip(raw: Readable, name: string): Readable {
  const gz = createGunzip({ chunkSize: 256 * 1024 });
  raw.on('error', (e) => gz.destroy(e));
  gz.on('error', () => {
    /* surfaced by the consumer's iteration */
  });
  void name;
  return raw.pipe(gz);
}

// stdin may be gzip too (`zcat` is not always at hand): sniff the magic bytes.
function maybeGunzipStdin(): Readable {
  const stdin = process.stdin;
  let decided = false;
  const out = new PassThrough({ highWaterMark: 256 * 1024 });
  stdin.on('data', (chunk: Buffer) => {
    if (!decided) {
      decided = true;
      if (chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b) {
        stdin.removeAllListeners('data');
        stdin.removeAllListeners('end');
        const gz = createGunzip({ chunkSize: 256 * 1024 });
        gz.on('error', (e) => out.destroy(e));
        gz.pipe(out);
        gz.write(chunk);
        stdin.pipe(gz);
        return;
      }
    }
    if (!out.write(chunk)) {
      stdin.pause();
      out.once('drain', () => stdin.resume());
    }
  });
  stdin.on('end', () => out.end());
  stdin.on('error', (e) => out.destroy(e));
  out.on('close', () => {
    if (!stdin.destroyed) stdin.pause();
  });
  return out;
}

/**
 * Where a command writes. Stdout by default; `-o FILE` writes FILE.tmp-PID and
 * renames it on success, so an interrupted or failed run leaves no half file.
 * `.gz` compresses.
 */
export class Output {
  readonly stream: Writable;
  private readonly file: Writable | undefined;
  private readonly tmp: string | undefined;
  private broken = false;
  private discarded = false;

  constructor(
    readonly path: string | undefined,
    private readonly reporter: Reporter,
  ) {
    if (path === undefined || path === '-') {
      this.stream = process.stdout;
      this.tmp = undefined;
      this.file = undefined;
    } else {
      // A device or FIFO (-o /dev/null, a named pipe) is written in place:
      // renaming a temp file over it would replace the device itself.
      this.tmp = isDevice(path) ? undefined : join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
      this.file = createWriteStream(this.tmp ?? path, { highWaterMark: 1 << 20 });
      if (path.endsWith('.gz')) {
        const gz = createGzip({ level: 6 });
        gz.pipe(this.file);
        this.stream = gz;
      } else {
        this.stream = this.file;
      }
      this.file.on('error', (e) => {
        // A write cut off by discard() (Ctrl-C, a failed stage) is not a write error.
        if (this.discarded) return;
        this.broken = true;
        this.reporter.say(`${path}: ${e.message}`);
        this.discard();
        process.exit(EXIT_USAGE);
      });
    }
    exitQuietlyOnClosedPipe(this.stream, () => this.discarded);
  }

  /** Writes, resolving once the stream wants more (backpressure). */
  async write(s: string): Promise<void> {
    if (s.length === 0) return;
    if (!this.stream.write(s)) await once(this.stream, 'drain');
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
    if (this.tmp !== undefined) await fsp.rename(this.tmp, this.path!);
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

function isDevice(path: string): boolean {
  try {
    const st = statSync(path);
    return !st.isFile() && !st.isDirectory();
  } catch {
    return false;
  }
}

/** `| head` closes our stdout: that is a normal end, not an error. */
export function exitQuietlyOnClosedPipe(stream: Writable, discarded: () => boolean = () => false): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    // Writes cut off by discarding the output: the command decides how it ends.
    if (discarded()) return;
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') process.exit(EXIT_OK);
    process.stderr.write(`${basename(process.argv[1] ?? 'gilpipe')}: write error: ${e.message}\n`);
    process.exit(EXIT_DATA);
  });
}

/**
 * Ctrl-C: stop reading, let the command flush what it has, then exit 130.
 * Inputs that are pipes keep draining, since the producer upstream got the
 * same signal and is about to close them; that way nothing it flushed is lost.
 */
export class Interrupt {
  requested = false;
  private listeners: Array<() => void> = [];
  constructor() {
    process.on('SIGINT', () => {
      if (this.requested) process.exit(EXIT_INTERRUPTED);
      this.requested = true;
      for (const l of this.listeners) l();
    });
  }
  onRequest(fn: () => void): () => void {
    this.listeners.push(fn);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== fn);
    };
  }
}

export interface CommonArgs {
  output?: string;
  strict: boolean;
  files: string[];
}

/**
 * The yargs skeleton every command starts from: its usage line, examples,
 * -o, --strict, --help, --version, and exit 2 on a usage error.
 */
export function cli(prog: string, usage: string, examples: Array<[string, string]>): Argv {
  let y = yargs(hideBin(process.argv))
    .scriptName(prog)
    .usage(usage)
    .version(version())
    .help()
    .alias('h', 'help')
    .alias('V', 'version')
    .strictOptions()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      // yargs reports its own parse errors (`-i` without a value) as a YError:
      // those are usage errors, not bugs, and get no stack trace.
      if (err && err.name !== 'YError') throw err;
      if (err && !msg) msg = err.message;
      process.stderr.write(`${prog}: ${msg}\nTry '${prog} --help'.\n`);
      process.exit(EXIT_USAGE);
    });
  for (const [cmd, what] of examples) y = y.example(cmd, what);
  return y;
}

export const outputOption = {
  alias: 'o',
  type: 'string',
  describe: 'write to FILE instead of stdout (.gz compresses)',
  requiresArg: true,
} as const;

export const strictOption = {
  type: 'boolean',
  default: false,
  describe: 'stop at the first malformed line (exit 1) instead of skipping it',
} as const;

/**
 * Runs a command body: maps errors to messages and exit codes. No user ever
 * sees a stack trace for bad input; GILPIPE_DEBUG=1 shows them for bugs.
 */
export async function run(prog: string, body: () => Promise<number | void>): Promise<void> {
  let code: number;
  try {
    code = (await body()) ?? EXIT_OK;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${prog}: ${e.message}\n`);
      code = EXIT_USAGE;
    } else if (e instanceof DataError) {
      process.stderr.write(`${prog}: ${e.message}\n`);
      code = EXIT_DATA;
    } else {
      const err = e as Error;
      process.stderr.write(`${prog}: internal error: ${err?.message ?? String(e)}\n`);
      if (process.env.GILPIPE_DEBUG) process.stderr.write(`${err?.stack}\n`);
      else process.stderr.write(`${prog}: (set GILPIPE_DEBUG=1 for details, and please report it)\n`);
      code = EXIT_DATA;
    }
  }
  process.exitCode = code;
}

/** Parses `10ms`, `1.5s`, `250us`, `100000ns`, `2m` into integer nanoseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|min)?\s*$/.exec(text);
  if (!m) throw new UsageError(`not a duration: '${text}' (examples: 10ms, 1.5s, 250us)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const mult: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, min: 60e9 };
  return Math.round(n * mult[unit]!);
}
