// Opening recordings: perf.data read natively (lib/perf-data/), or through
// `perf script` when it needs what only perf has (symbols for callchains).
import { existsSync, statSync } from 'node:fs';
import type { Reporter } from './cli.js';
import { DataError, UsageError } from './errors.js';
import { type Input, fileHead, openInput } from './io.js';
import { magicOrder } from './perf-data/bytes.js';
import { PerfDataFileError, openPerfDataFile } from './perf-data/file.js';

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
  const inputs: Input[] = [];
  for (const name of names.length === 0 ? ['-'] : names) {
    if (name !== '-' && existsSync(name) && statSync(name).isFile() && isPerfData(fileHead(name, 8))) {
      inputs.push(await recordingInput(name, reporter));
    } else {
      inputs.push(await openInput(name));
    }
  }
  return inputs;
}

/**
 * A perf.data file as an input. A file-mode recording is streamed as a
 * pipe-mode one (lib/perf-data/file.ts) and read in this process; one with
 * callchains or code samples goes through `perf script`, which resolves
 * their symbols, and that is said once.
 */
export async function recordingInput(file: string, reporter: Reporter): Promise<Input> {
  if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
  if (process.env[PERF_SCRIPT_ENV]) return perfScriptInput(file, reporter);
  let pd;
  try {
    pd = openPerfDataFile(file);
  } catch (e) {
    if (e instanceof PerfDataFileError) throw new DataError(`${file}: ${e.message}`);
    throw e;
  }
  if (pd.needsPerfScript !== undefined) {
    reporter.say(`${file}: read through perf script: ${pd.needsPerfScript}`);
    return perfScriptInput(file, reporter);
  }
  const cut = pd.cut;
  return {
    name: file,
    stream: pd.stream(),
    isPipe: false,
    ...(cut !== undefined
      ? {
          done: () => Promise.reject(new DataError(`${file}: ${cut}`)),
        }
      : {}),
  };
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
        throw new DataError(
          `perf script -i ${file} failed (exit ${r.exitCode ?? r.signal}); what was read before it is kept${msg ? `. perf said:\n${msg}` : ''}`,
        );
      }
      const warn = String(r.stderr ?? '').trim();
      if (warn) reporter.say(`perf script said: ${warn.replace(/\n+/g, ' ')}`);
    },
  };
}
