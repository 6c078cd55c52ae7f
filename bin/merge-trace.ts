#!/usr/bin/env node
// merge-trace: a streaming drop-in for `viztracer --combine` / `--align_combine`.
import { createReadStream, openSync, writeSync, closeSync, rmSync, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, outputOption, run, Output, Reporter, DataError, UsageError, openInput, version, EXIT_INTERRUPTED } from '../lib/cli.js';
import { scanTrace, scanFiles, openFile, planMerge, writeMerged, ChangedError, type TraceSummary, type IdMaps } from '../filters/merge-trace.js';

const prog = 'merge-trace';
// Below this much input, starting scan workers costs more than it saves.
const PARALLEL_ABOVE = 64 << 20;

const argv = cli(prog, '$0 TRACE.json [TRACE.json.gz ...] [-o OUT.json[.gz]]\nconcatenate trace files as `viztracer --combine` does, in bounded memory', [
  ['$0 gil.json viztracer.json -o combined.json', 'the GIL timeline beside the function trace'],
  ['$0 --align run1.json run2.json -o cmp.json.gz', 'compare two runs from a common start (like --align_combine)'],
  ['$0 gil.json vt.json --shift gil.json=-1500', 'gil.json\'s clock runs 1.5 ms ahead'],
  ['$0 gil.json vt.json --map-pid gil.json:81234=7 --map-tid gil.json:81234=7', 'host ids in perf, container ids in VizTracer'],
])
  .parserConfiguration({ 'boolean-negation': false })
  .option('output', outputOption)
  .option('align', { type: 'boolean', default: false, describe: "shift each input to start at 0: at its viztracer_metadata.sync_marker, else its earliest ts (VizTracer's --align_combine)" })
  .option('no-negative', { type: 'boolean', default: false, describe: 'shift the whole result so that no ts is negative (Perfetto drops negative ones)' })
  .option('shift', { type: 'string', requiresArg: true, describe: 'FILE=MICROSECONDS: add a known clock offset to every ts of FILE' })
  .option('map-pid', { type: 'string', requiresArg: true, describe: '[FILE:]HOST=NS[,...]: rewrite pid HOST as NS (in FILE only, or in every input)' })
  .option('map-tid', { type: 'string', requiresArg: true, describe: '[FILE:]HOST=NS[,...]: the same for tid' })
  .option('embed-sources', { type: 'boolean', default: false, describe: "embed the source files named by X events into file_info, read from this machine's disk, as viztracer does" })
  .option('strict', { type: 'boolean', default: false, describe: 'stop (exit 1) at an unusable input instead of skipping it' })
  .parseSync();

/** Ctrl-C during pass 2, thrown from the output sink. */
class Interrupted extends Error {}

await run(prog, async () => {
  const files = argv._.map(String);
  if (files.length === 0) throw new UsageError("no input files (try 'merge-trace --help')");
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('stdin (-) can be given only once');
  const reporter = new Reporter(prog);
  const opts = {
    align: argv.align,
    noNegative: argv['no-negative'],
    shifts: parseShifts(list(argv.shift), files),
    pids: parseIdMaps('--map-pid', list(argv['map-pid']), files),
    tids: parseIdMaps('--map-tid', list(argv['map-tid']), files),
    embedSources: argv['embed-sources'],
    version: `merge-trace (gilpipe ${version()})`,
  };
  // Every name must exist before anything is read: a typo fails at once.
  for (const f of files) if (f !== '-') await openCheck(f);

  const spools = new Map<number, string>();
  // Ctrl-C: before any output exists, stop at once; while writing, stop
  // between two writes and remove the half-written file.
  let writing = false;
  let interrupted = false;
  process.once('SIGINT', () => {
    // Writing to stdout there is nothing to remove, and a stalled reader may never let a write finish.
    if (writing && argv.output !== undefined && argv.output !== '-') {
      interrupted = true;
      return;
    }
    for (const p of spools.values()) rmSync(p, { force: true });
    process.exit(EXIT_INTERRUPTED);
  });
  try {
    // Pass 1: what each input holds, and which inputs are usable.
    const scanOpts = (i: number) => ({
      keepTop: i === 0 || argv.strict === false,
      embedSources: opts.embedSources,
      exactTimes: opts.align || opts.noNegative,
    });
    const regular = await Promise.all(files.map(async (f) => f !== '-' && (await fsp.stat(f)).isFile()));
    const fileIdx = files.map((_f, i) => i).filter((i) => regular[i]);
    const big = (await Promise.all(fileIdx.map(async (i) => (await fsp.stat(files[i]!)).size))).reduce((a, b) => a + b, 0) > PARALLEL_ABOVE;
    const scanned = await scanFiles(
      fileIdx.map((i) => files[i]!),
      (k) => scanOpts(fileIdx[k]!),
      big,
    );
    const summaries: TraceSummary[] = [];
    for (const [i, name] of files.entries()) {
      if (regular[i]) {
        summaries.push(scanned[fileIdx.indexOf(i)]!);
      } else {
        // A pipe cannot be read twice: keep its bytes for pass 2.
        const input = await openInput(name);
        const path = join(tmpdir(), `merge-trace-${process.pid}-${i}.json`);
        spools.set(i, path);
        const fd = openSync(path, 'w', 0o600);
        try {
          summaries.push(await scanTrace(input.name, input.stream, scanOpts(i), (b) => void writeSync(fd, b)));
        } finally {
          closeSync(fd);
        }
      }
    }
    for (const s of summaries) {
      if (s.usable) continue;
      if (argv.strict) throw new DataError(s.problem!);
      reporter.say(`${s.problem}: skipped`);
    }
    const usable = summaries.map((s, i) => ({ s, i })).filter((x) => x.s.usable);
    if (usable.length === 0) throw new DataError(`no usable input among the ${files.length} given: nothing written`);

    const plan = planMerge(summaries, opts);
    for (const w of plan.warnings) reporter.say(w);

    // Pass 2: write the merged object, streaming the events through.
    const out = new Output(argv.output, reporter);
    writing = true;
    try {
      await writeMerged(
        plan,
        {
          write: async (b) => {
            if (interrupted) throw new Interrupted();
            if (!out.stream.write(b)) await once(out.stream, 'drain');
          },
        },
        async (k) => {
          const i = usable[k]!.i;
          const spool = spools.get(i);
          return spool !== undefined ? createReadStream(spool, { highWaterMark: 1 << 20 }) : openFile(files[i]!);
        },
      );
    } catch (e) {
      out.discard();
      if (e instanceof Interrupted) return EXIT_INTERRUPTED;
      if (e instanceof ChangedError) throw new DataError(e.message);
      throw e;
    }
    await out.commit();
  } finally {
    for (const p of spools.values()) rmSync(p, { force: true });
  }
});

// A repeated option comes as an array, a single one as a string.
function list(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

async function openCheck(path: string): Promise<void> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory, not a trace file`);
}

function parseShifts(values: string[], files: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const v of values) {
    const eq = v.lastIndexOf('=');
    const file = v.slice(0, eq);
    const us = Number(v.slice(eq + 1));
    if (eq <= 0 || v.slice(eq + 1).trim() === '' || !Number.isFinite(us)) throw new UsageError(`--shift ${v}: expected FILE=MICROSECONDS, e.g. gil.json=-1500`);
    if (!files.includes(file)) throw new UsageError(`--shift ${v}: ${file} is not one of the inputs`);
    m.set(file, us);
  }
  return m;
}

function parseIdMaps(flag: string, values: string[], files: string[]): IdMaps {
  const maps: IdMaps = { all: new Map(), byFile: new Map() };
  for (const v of values) {
    // FILE may contain ':' itself; the table after the last ':' has none.
    const colon = v.lastIndexOf(':');
    const file = colon === -1 ? undefined : v.slice(0, colon);
    const table = colon === -1 ? v : v.slice(colon + 1);
    if (file !== undefined && !files.includes(file)) throw new UsageError(`${flag} ${v}: ${file} is not one of the inputs`);
    let target = maps.all;
    if (file !== undefined) {
      target = maps.byFile.get(file) ?? new Map();
      maps.byFile.set(file, target);
    }
    for (const pair of table.split(',')) {
      const m = /^\s*(\d+)\s*=\s*(\d+)\s*$/.exec(pair);
      if (!m) throw new UsageError(`${flag} ${v}: expected [FILE:]HOST=NS[,HOST=NS...] with numeric ids, e.g. 81234=7`);
      target.set(Number(m[1]), Number(m[2]));
    }
  }
  return maps;
}
