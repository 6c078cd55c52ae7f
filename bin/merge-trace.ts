#!/usr/bin/env node
// merge-trace: a streaming drop-in for `viztracer --combine` / `--align_combine`.
// Pass 1 reads every input once and plans the merge; pass 2 writes it,
// reading the usable inputs again (a pipe from the copy kept in pass 1).
import { readFileSync, promises as fsp, type Stats } from 'node:fs';
import { cli, runWhenMain, outputOption, run, Reporter, version } from '../lib/cli.js';
import { DataError, UsageError } from '../lib/errors.js';
import { consume, isGzipFile, readFileBytes } from '../lib/file-bytes.js';
import { Output, describeIoError, openInput, stdinOnce } from '../lib/io.js';
import { Interrupt } from '../lib/signals.js';
import { Spool } from '../lib/spool.js';
import { TraceScan, type ScanOptions, type TraceSummary } from '../filters/merge-trace/scan.js';
import { idMapParser, idMaps, parseShifts, shiftsByFile } from '../filters/merge-trace/options.js';
import { planMerge, type MergeOptions } from '../filters/merge-trace/plan.js';
import { writeMerged } from '../filters/merge-trace/write.js';
import { scanFiles } from '../filters/merge-trace/split.js';

const prog = 'merge-trace';

export async function main(args: string[]): Promise<void> {
  const argv = cli(prog, '$0 TRACE.json [TRACE.json.gz ...] [-o OUT.json[.gz]]\nconcatenate trace files as `viztracer --combine` does, in bounded memory', [
    ['$0 gil.json viztracer.json -o combined.json', 'the GIL timeline beside the function trace'],
    ['$0 --align run1.json run2.json -o cmp.json.gz', 'compare two runs from a common start (like --align_combine)'],
    ['$0 gil.json vt.json --shift gil.json=-1500', 'gil.json\'s clock runs 1.5 ms ahead'],
    ['$0 gil.json vt.json --map-pid gil.json:81234=7 --map-tid gil.json:81234=7', 'host ids in perf, container ids in VizTracer'],
  ], args, ['shift', 'map-pid', 'map-tid'])
    .parserConfiguration({ 'boolean-negation': false })
    .option('output', outputOption)
    .option('align', { type: 'boolean', default: false, describe: "shift each input to start at 0: at its viztracer_metadata.sync_marker, else its earliest ts (VizTracer's --align_combine)" })
    .option('no-negative', { type: 'boolean', default: false, describe: 'shift the whole result so that no ts is negative (Perfetto drops negative ones)' })
    .option('shift', { type: 'string', requiresArg: true, coerce: parseShifts, describe: 'FILE=MICROSECONDS: add a known clock offset to every ts of FILE' })
    .option('map-pid', { type: 'string', requiresArg: true, coerce: idMapParser('--map-pid'), describe: '[FILE:]HOST=NS[,...]: rewrite pid HOST as NS (in FILE only, or in every input)' })
    .option('map-tid', { type: 'string', requiresArg: true, coerce: idMapParser('--map-tid'), describe: '[FILE:]HOST=NS[,...]: the same for tid' })
    .option('embed-sources', { type: 'boolean', default: false, describe: "embed the source files named by X events into file_info, read from this machine's disk, as viztracer does" })
    .option('strict', { type: 'boolean', default: false, describe: 'stop (exit 1) at an unusable input instead of skipping it' })
    .parseSync();

  /** Ctrl-C during pass 2, thrown from the output sink. */
  class Interrupted extends Error {}

  await run(prog, async () => {
    const files = argv._.map(String);
    if (files.length === 0) throw new UsageError("no input files (try 'merge-trace --help')");
    stdinOnce(files);
    const reporter = new Reporter(prog);
    const opts: MergeOptions = {
      align: argv.align,
      noNegative: argv['no-negative'],
      shifts: shiftsByFile(argv.shift ?? [], files),
      pids: idMaps('--map-pid', argv['map-pid'] ?? [], files),
      tids: idMaps('--map-tid', argv['map-tid'] ?? [], files),
      readSource: argv['embed-sources'] ? readSource : undefined,
      version: `merge-trace (gilpipe ${version()})`,
    };
    const scanOpts = (i: number): ScanOptions => ({
      // When the first input is unusable, a later one's object becomes the output's.
      keepTop: i === 0 || !argv.strict,
      embedSources: argv['embed-sources'],
      exactTimes: opts.align || opts.noNegative,
    });
    // Every name must exist before anything is read: a typo fails at once.
    const stats: Array<Stats | undefined> = [];
    for (const f of files) stats.push(f === '-' ? undefined : await statInput(f));

    const spools = new Map<number, Spool>();
    const removeSpools = (): void => spools.forEach((s) => s.remove());
    // Ctrl-C: before any output exists, stop at once; while writing -o FILE,
    // stop between two writes and remove the half-written file. On stdout
    // there is nothing to remove, and a stalled reader may never let a write
    // finish: stop at once there too.
    const interrupt = new Interrupt();
    let writingFile = false;
    const toFile = argv.output !== undefined && argv.output !== '-';
    const stopped = (): string => `${interrupt.exitCode === 130 ? 'interrupted' : 'terminated'}: the merge did not finish${toFile ? `: ${argv.output} is not written` : ''}`;
    interrupt.onRequest(() => {
      if (writingFile) return;
      removeSpools();
      reporter.say(stopped());
      process.exit(interrupt.exitCode);
    });
    try {
      // Pass 1: what each input holds, and which inputs are usable. Regular
      // files first, on worker threads when there is much to read; a pipe can
      // be read only once, so its bytes are spooled for pass 2.
      const regular = files.map((_f, i) => i).filter((i) => stats[i]?.isFile() === true);
      const scanned = await scanFiles(regular.map((i) => ({ path: files[i]!, size: stats[i]!.size, args: scanOpts(i) })));
      const summaries: TraceSummary[] = [];
      for (const [i, name] of files.entries()) {
        if (regular.includes(i)) {
          summaries.push(scanned[regular.indexOf(i)]!);
        } else {
          const input = await openInput(name);
          const spool = new Spool(`${prog}-${process.pid}-${i}`, input.name);
          spools.set(i, spool);
          summaries.push(await consume(spool.tee(input.stream), new TraceScan(input.name, scanOpts(i))));
        }
      }
      for (const s of summaries) {
        if (s.usable) continue;
        if (argv.strict) throw new DataError(s.problem!);
        reporter.say(`${s.problem}: skipped`);
      }
      const usable = summaries.flatMap((s, i) => (s.usable ? [i] : []));
      if (usable.length === 0) throw new DataError(`no usable input among the ${files.length} given: nothing written`);
      const plan = planMerge(summaries, opts);
      for (const w of plan.warnings) reporter.say(w);

      // Pass 2: the merged object, the events streamed through.
      const out = new Output(argv.output);
      writingFile = argv.output !== undefined && argv.output !== '-';
      const sink = {
        write: async (b: Uint8Array, written: () => void): Promise<void> => {
          if (interrupt.requested) throw new Interrupted();
          await out.write(b, written);
        },
      };
      const reopen = async (k: number) => spools.get(usable[k]!)?.read() ?? (await readFileBytes(files[usable[k]!]!));
      // A regular file as it is may be rewritten on several threads, each reading its piece.
      const file = (k: number): string | undefined => {
        const path = files[usable[k]!]!;
        try {
          return stats[usable[k]!]?.isFile() === true && !isGzipFile(path) ? path : undefined;
        } catch {
          return undefined; // gone since pass 1: reading it again on this thread says so, with its name
        }
      };
      try {
        await writeMerged(plan, sink, reopen, file);
      } catch (e) {
        out.discard();
        if (e instanceof Interrupted) {
          reporter.say(stopped());
          return interrupt.exitCode;
        }
        throw e;
      }
      await out.commit();
    } finally {
      removeSpools();
    }
  });
}

runWhenMain(import.meta.url, main);

async function statInput(path: string): Promise<Stats> {
  let st;
  try {
    st = await fsp.stat(path);
  } catch (e) {
    throw new UsageError(`${path}: ${describeIoError(e as Error)}`);
  }
  if (st.isDirectory()) throw new UsageError(`${path}: is a directory, not a trace file`);
  return st;
}

function readSource(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
