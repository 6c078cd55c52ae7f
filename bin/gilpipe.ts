#!/usr/bin/env node
// gilpipe: every command in one program, the single executable's entry
// (npm run sea). `gilpipe perf-parse ...` runs a command by name (gil- may be
// left out: `gilpipe record -- python app.py`); a link named after a command
// runs that command, busybox style; `gilpipe install-links DIR` makes them.
import { lstatSync, symlinkSync, unlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { isSea } from 'node:sea';
import { hideBin } from 'yargs/helpers';
import { inBundle, run, runWhenMain, version, type Main } from '../lib/cli.js';
import { DataError, UsageError } from '../lib/errors.js';
import { describeIoError } from '../lib/io.js';
import { isWorker, linkConsumer, setWorkerEntry } from '../lib/scan-workers.js';
import { traceScan } from '../filters/merge-trace/scan.js';
import { pieceRewrite } from '../filters/merge-trace/write.js';
const prog = 'gilpipe';

// Each command is loaded when it is asked for: in the bundle (scripts/bundle.mjs)
// each is a file of its own, so gil-stats does not compile gil-record and execa.
export const COMMANDS: Record<string, () => Promise<Main>> = {
  'perf-parse': async () => (await import('./perf-parse.js')).main,
  'gil-state': async () => (await import('./gil-state.js')).main,
  'gil-stats': async () => (await import('./gil-stats.js')).main,
  'to-trace': async () => (await import('./to-trace.js')).main,
  'merge-trace': async () => (await import('./merge-trace.js')).main,
  'gil-record': async () => (await import('./gil-record.js')).main,
};

const HELP = `Usage: gilpipe COMMAND [ARGS...]   run one of gilpipe's commands
       COMMAND [ARGS...]           the same, through a link named after it

Commands (gil- may be left out: gilpipe record -- python app.py):
  gil-record    record a Python program under perf, write the trace and the GIL table
  perf-parse    perf script text (or perf.data) to records
  gil-state     records to per-thread GIL and scheduler spans
  gil-stats     spans to the summary of who held and who waited
  to-trace      spans to a Chrome/Perfetto trace
  merge-trace   trace files to one trace, like viztracer --combine
  install-links DIR   make a link in DIR for each command, to this program

gilpipe COMMAND --help says more of each.
`;

function command(name: string): (() => Promise<Main>) | undefined {
  return COMMANDS[name] ?? COMMANDS[`gil-${name}`];
}

async function installLinks(args: string[]): Promise<void> {
  await run(prog, async () => {
    if (args.length !== 1) throw new UsageError('install-links wants one directory: gilpipe install-links DIR');
    // Under node the commands are npm's to install (npm install -g), each its own file.
    if (!isSea()) throw new UsageError('install-links links the single executable (npm run sea); under node, npm install -g installs the commands');
    const dir = args[0]!;
    if (!lstatOrUndefined(dir)?.isDirectory()) throw new UsageError(`install-links ${dir}: not a directory`);
    const target = process.execPath;
    for (const name of Object.keys(COMMANDS)) {
      const link = join(dir, name);
      // A link left by an earlier install is replaced; anything else is not ours to remove.
      let old;
      try {
        old = lstatOrUndefined(link);
        if (old !== undefined && old.isSymbolicLink()) unlinkSync(link);
        if (old === undefined || old.isSymbolicLink()) symlinkSync(target, link);
      } catch (e) {
        // No permission, a read-only disk: the system's reason, with the link.
        throw new DataError(`${link}: ${describeIoError(e as Error)}`);
      }
      if (old !== undefined && !old.isSymbolicLink()) throw new UsageError(`${link}: exists and is not a link: not replaced`);
      process.stdout.write(`${link} -> ${target}\n`);
    }
  });
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function main(args: string[]): Promise<void> {
  // Called through a link: argv[1] is the name the link has (as argv[0] is in C).
  const called = command(basename(process.argv[1] ?? '', '.js'));
  if (called !== undefined) return (await called())(args);
  const [name, ...rest] = args;
  if (name === '--help' || name === '-h') {
    process.stdout.write(HELP);
    return;
  }
  if (name === undefined) {
    process.stderr.write(HELP);
    process.exitCode = 2;
    return;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  if (name === 'install-links') return installLinks(rest);
  const chosen = command(name);
  if (chosen !== undefined) return (await chosen())(rest);
  process.stderr.write(`${prog}: '${name}' is not a command (try 'gilpipe --help')\n`);
  process.exitCode = 2;
}

// The bundle is the single executable's only file: its worker threads run it
// too, from source, and find merge-trace's scan here instead of in a module file.
linkConsumer('traceScan', traceScan);
linkConsumer('pieceRewrite', pieceRewrite);
// A worker runs this entry, which links them, not the file its loader is in.
if (inBundle() && !isSea()) setWorkerEntry(new URL(import.meta.url));
if (isWorker()) {
  /* a scan worker: lib/scan-workers.ts waits for its jobs */
} else if (inBundle()) {
  void main(hideBin(process.argv));
} else {
  runWhenMain(import.meta.url, main);
}
