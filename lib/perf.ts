// Opening recordings: perf.data read natively (lib/perf-data/), or through
// `perf script` when it needs what only perf has (DWARF unwinding, branch
// stacks, hardware events' fields, compressed records).
import { closeSync, createReadStream, createWriteStream, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Reporter } from './cli.js';
import { which } from './which.js';
import { zlib } from './builtins.js';
import { DataError, UsageError } from './errors.js';
import { type Input, describeIoError, fileInput, inputHead, openInput, peekStream, stdinOnce } from './io.js';
import { magicOrder } from './perf-data/bytes.js';
import { PerfDataFileError, openPerfDataFile } from './perf-data/file.js';
import type { Interrupt } from './signals.js';

/**
 * The options the pipeline needs from `perf script`: nanosecond times, pid
 * beside tid (an interpreter's lock is per process), fork/comm/exit and
 * lost-event records, and switch-in records when recorded with --switch-events.
 * --no-inline: inline frames cost addr2line calls (6x slower on DWARF stacks)
 * and add nothing the later stages use. --header: the host the recording
 * was made on, and when, for the capture record (labelled summaries).
 */
export const PERF_SCRIPT_ARGS = ['--header', '--ns', '-F', '+pid', '--show-task-events', '--show-lost-events', '--show-switch-events', '--no-inline'];

/**
 * perf 6.1 stops printing recorded callchains as soon as any -F is given
 * (even `+pid`), unless ip/sym/dso are asked for too; asking always would put
 * an ip on every line and slow perf script down. So ask only when an event of
 * the recording has callchains (`perf evlist -v`: CALLCHAIN in sample_type).
 */
export async function perfScriptArgs(file: string): Promise<string[]> {
  const { execa } = await import('execa');
  const r = await execa('perf', ['evlist', '-v', '-i', file], { reject: false });
  if (r.exitCode === 0 && /sample_type: [A-Z_|]*CALLCHAIN/.test(String(r.stdout))) {
    return PERF_SCRIPT_ARGS.map((a) => (a === '+pid' ? '+pid,+ip,+sym,+dso' : a));
  }
  return PERF_SCRIPT_ARGS;
}

export const PERF_PACKAGE_HINT =
  'install perf (Debian: apt-get install linux-perf; Ubuntu: apt-get install linux-tools-$(uname -r); Fedora: dnf install perf)';

/** The first bytes of a perf.data file (perf's own magic, either byte order; pipe-mode files start the same). */
export function isPerfData(head: Buffer): boolean {
  return magicOrder(head) !== undefined;
}

/**
 * Set to read every perf.data through `perf script`, as before the native
 * reader: a debugging aid for comparing the two (docs/perf-data.md), not an option.
 */
export const PERF_SCRIPT_ENV = 'GILPIPE_PERF_SCRIPT';

/**
 * Opens every name (stdin for none): a perf.data file as its records (read
 * here, or by `perf script` when it must be), anything else as it is.
 */
export async function openRecordingsOrText(names: string[], reporter: Reporter): Promise<Input[]> {
  stdinOnce(names);
  const inputs: Input[] = [];
  for (const name of names.length === 0 ? ['-'] : names) {
    const file = name !== '-' && existsSync(name) && statSync(name).isFile();
    if (file) {
      // Opened when the runner comes to it, so that a folder of thousands of
      // recordings needs one descriptor at a time, not one each (EMFILE past
      // `ulimit -n`). It exists now: a typo fails before anything is read.
      inputs.push({ name, stream: Readable.from([]), isPipe: false, open: () => fileOrRecording(name, reporter) });
    } else {
      const input = await openInput(name);
      // A stream is looked at when the runner comes to it: one writer may fill FIFOs in turn.
      inputs.push(input.isPipe ? { ...input, open: (interrupt) => streamedRecording(input, reporter, interrupt) } : input);
    }
  }
  return inputs;
}

/** A regular file: its records if it is a perf.data, else its bytes. */
async function fileOrRecording(name: string, reporter: Reporter): Promise<Input> {
  if (isPerfData(inputHead(name, 8)) || isFileModeGzip(name)) return recordingInput(name, reporter);
  return openInput(name);
}

/**
 * A stream (stdin, a FIFO, gzip through either) as it is, unless it is a
 * perf.data written to a file: perf puts that one's section table at the end,
 * so the stream is copied to a temporary file and read from there, as `ssh
 * host cat perf.data | gil-stats` or `zcat perf.data.gz | gil-stats` needs.
 * A pipe-mode recording (`perf record -o -`) streams as it is. A signal
 * while it waits for the first bytes (a FIFO nobody writes) or copies hands
 * the input on as it is, for the runner to skip and say the output is partial.
 */
async function streamedRecording(input: Input, reporter: Reporter, interrupt: Interrupt): Promise<Input> {
  let off = (): void => undefined;
  const stopped = new Promise<'stopped'>((resolve) => {
    off = interrupt.onRequest(() => resolve('stopped'));
  });
  try {
    const peeked = await Promise.race([peekStream(input.stream, 16), stopped]);
    if (peeked === 'stopped') return input;
    input = { ...input, stream: peeked.stream };
    const order = magicOrder(peeked.head);
    if (order === undefined || peeked.head.length < 16 || order.u64(peeked.head, 8) === 16) return input;
    // A stream has no file time: 0 is none to both readers (not the copy's time).
    const copy = await Promise.race([copyToTemp(input.name, [input.stream], 'reading the part that came', 0, reporter), stopped]);
    if (copy === 'stopped') {
      input.stream.destroy();
      return input;
    }
    return await recordingInput(copy, reporter, input.name);
  } finally {
    off();
  }
}

/**
 * A file-mode perf.data that comes as a stream (a pipe, an archive as it
 * unzips) in a temporary file, removed when the process ends: its section
 * table is at its end, so it cannot be read as it streams. Memory stays
 * flat; the disk holds one copy. A source cut short is said (`cut` ends the
 * sentence) and what came is read; a copy that cannot be written fails,
 * naming where. `mtime`: the time perf script --header gives the recording
 * (0: none).
 */
async function copyToTemp(name: string, source: Array<Readable | Duplex>, cut: string, mtime: Date | number, reporter: Reporter): Promise<string> {
  const failed = (e: Error): DataError =>
    new DataError(`${name}: a perf.data written to a file is read from a copy (its section table is at its end), and the copy in ${tmpdir()} failed: ${describeIoError(e)}`);
  let dir: string;
  try {
    dir = mkdtempSync(join(tmpdir(), 'gilpipe-perfdata-'));
  } catch (e) {
    throw failed(e as Error);
  }
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const copy = join(dir, 'perf.data');
  const out = createWriteStream(copy);
  let writeFailure: Error | undefined;
  out.on('error', (e) => void (writeFailure ??= e));
  try {
    await pipeline([...source, out]);
  } catch (e) {
    if (writeFailure !== undefined) throw failed(writeFailure);
    reporter.say(`${name}: ${describeIoError(e as Error)}; ${cut}`);
  }
  try {
    utimesSync(copy, mtime, mtime);
  } catch (e) {
    throw failed(e as Error);
  }
  return copy;
}

/**
 * A perf.data file as an input. A file-mode recording is streamed as a
 * pipe-mode one (lib/perf-data/file.ts) and read in this process, its
 * frame-pointer callchains and software code samples named there too
 * (lib/perf-data/symbols.ts); one with DWARF callchains, branch stacks or
 * hardware events goes through `perf script`, and that is said once.
 */
export async function recordingInput(file: string, reporter: Reporter, shownAs = file): Promise<Input> {
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  if (statSync(file).isDirectory()) throw new UsageError(`${file}: is a directory`);
  // Gzipped, as archives are: its header is at its end, so it is unzipped to a temporary file first.
  if (isFileModeGzip(file)) {
    // perf script --header says when the recording was written: the archive's time, not the copy's.
    const copy = await copyToTemp(file, [createReadStream(file), zlib().createGunzip()], 'reading the part that unzips', statSync(file).mtime, reporter);
    return recordingInput(copy, reporter, shownAs);
  }
  if (process.env[PERF_SCRIPT_ENV]) return { ...(await perfScriptInput(file, reporter)), name: shownAs };
  let pd;
  try {
    pd = openPerfDataFile(file);
  } catch (e) {
    if (e instanceof PerfDataFileError) throw new DataError(`${shownAs}: ${e.message}`);
    throw e;
  }
  if (pd.needsPerfScript !== undefined) {
    reporter.say(`${shownAs}: read through perf script: ${pd.needsPerfScript}`);
    return { ...(await perfScriptInput(file, reporter)), name: shownAs };
  }
  if (pd.betterPerfScript !== undefined) {
    // Without perf it is read here all the same: the records that came too late to be put in order are said.
    if (which('perf') !== undefined) {
      reporter.say(`${shownAs}: read through perf script: ${pd.betterPerfScript}`);
      return { ...(await perfScriptInput(file, reporter)), name: shownAs };
    }
    reporter.say(`${shownAs}: ${pd.betterPerfScript}, and perf is not installed to read it in order: read here`);
  }
  const input = await fileInput(file, shownAs, () => pd.stream(), pd.region);
  const cut = pd.cut;
  if (cut !== undefined) input.done = () => Promise.reject(new DataError(`${shownAs}: ${cut}`));
  return input;
}

/** A gzipped file whose first bytes, unzipped, are a file-mode perf.data (a pipe-mode one streams as it is). */
function isFileModeGzip(path: string): boolean {
  const head = inputHead(path, 2);
  if (head[0] !== 0x1f || head[1] !== 0x8b) return false;
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    // A partial gzip stream: what its first bytes hold, without an error for the rest.
    const start = zlib().gunzipSync(buf.subarray(0, n), { finishFlush: zlib().constants.Z_SYNC_FLUSH });
    const order = magicOrder(start);
    return order !== undefined && start.length >= 16 && order.u64(start, 8) !== 16;
  } catch {
    return false;
  } finally {
    closeSync(fd);
  }
}

/** `perf script` on FILE as an input, whose `done` says how perf ended. */
export async function perfScriptInput(file: string, reporter: Reporter): Promise<Input> {
  const perf = await perfScript(file, reporter);
  return { ...perf.input, done: () => perf.done() };
}

export async function perfScript(file: string, reporter: Reporter): Promise<{ input: Input; done(): Promise<void> }> {
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  // Loaded only when needed: execa costs ~15 MB of RSS in every stage otherwise.
  const { execa } = await import('execa');
  const sub = execa('perf', ['script', '-i', file, ...(await perfScriptArgs(file))], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false, stderr: true },
    reject: false,
    stripFinalNewline: true,
  });
  return {
    input: { name: file, stream: sub.stdout!, isPipe: true },
    async done() {
      const r = await sub;
      if ((r as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(r.message ?? '')) && r.exitCode === undefined) {
        throw new DataError(`cannot run perf: ${PERF_PACKAGE_HINT}`);
      }
      if (r.exitCode !== 0) {
        const msg = String(r.stderr ?? '').trim();
        // perf reads only a perf.data of this user's or root's (its parser is
        // C, the file may be crafted); its "-f" is not ours to pass.
        const owner = /not owned by current user or root/.test(msg)
          ? `\nperf reads only a recording of yours or root's: if you trust this one, read a copy of your own (cp ${file} mine.data)`
          : '';
        throw new DataError(
          `perf script -i ${file} failed (exit ${r.exitCode ?? r.signal}); what was read before it is kept${msg ? `. perf said:\n${msg}` : ''}${owner}`,
        );
      }
      const warn = String(r.stderr ?? '').trim();
      if (warn) reporter.say(`perf script said: ${warn.replace(/\n+/g, ' ')}`);
    },
  };
}
