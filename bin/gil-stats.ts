#!/usr/bin/env node
// gil-stats: gil-state records in, a summary of who held and who waited out.
import { extname } from 'node:path';
import { cli, runWhenMain, outputOption, strictOption, run, Reporter, BadInput, parseDuration } from '../lib/cli.js';
import { BrokenInputError, DataError, UsageError } from '../lib/errors.js';
import { Output, readWhole, stdinOnce } from '../lib/io.js';
import { TextSink } from '../lib/ndjson.js';
import { openRecordingsOrText } from '../lib/perf.js';
import { pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { FirstLine } from '../lib/sniff.js';
import { DEFAULTS, GilStats, type GilStatsJSON, type GilStatsOptions } from '../filters/gil-stats.js';
import { merge, parseSummary } from '../filters/gil-stats/merge.js';
import { CSV_TABLES, FORMATS, FORMATTERS, FORMAT_BY_EXTENSION, type CsvTable, type Format, notes } from '../filters/gil-stats/format.js';
import { Upstream, spansFrom } from '../filters/upstream.js';
import { WEIGHTS, type Weight } from '../filters/gil-stats/folded.js';
import { parseLabels } from '../filters/gil-stats/labels.js';
import { ROLLUP_FORMATTERS, parseBy, rollup } from '../filters/gil-stats/rollup.js';

const prog = 'gil-stats';

/** A duration option above zero, in ns. */
const positive = (name: string) => (text: string) => {
  const ns = parseDuration(text);
  if (!(ns > 0)) throw new UsageError(`${name} wants a duration above zero, not '${text}'`);
  return ns;
};

export async function main(args: string[]): Promise<void> {
  const argv = cli(
    prog,
    `$0 [FILE...]               summarise gil-state output (stdin when no FILE or -)\n$0 --merge A.json B.json...  combine JSON summaries of many captures`,
    [
      ['perf-parse -i perf.data | gil-state | $0', 'the per-thread and per-process table'],
      ['gil-state events.ndjson | $0 --per4m', "per4m's own table, to check against it"],
      ['$0 run.gil.ndjson --format json -o run.stats.json', 'a summary to archive and merge later'],
      ['$0 --label host=web-3 --label service=api perf.data -o web-3.json', 'a labelled summary, to merge later'],
      ['$0 --merge host*/run.stats.json', 'one summary of a fleet (processes of different hosts and captures apart)'],
      ['$0 --merge host*/run.stats.json --by label:service', 'rolled up per service: sums and the percentiles of the union'],
      ['$0 run.gil.ndjson --interval 100ms --format csv > windows.csv', 'per-window rows for plotting'],
      ['$0 perf.data --format folded > blame.folded', 'holders\' stacks weighted by the wait they caused (speedscope, flamegraph.pl)'],
    ],
    args,
    ['label'],
  )
    .option('format', {
      alias: 'f',
      choices: FORMATS,
      describe: 'output form (default: table on a terminal; otherwise from the -o extension, else json)',
    })
    .option('wide', { type: 'boolean', default: false, describe: 'the table with every column (the default fits 120 columns)' })
    .option('per4m', { type: 'boolean', default: false, describe: "per4m's definitions and columns (total, no gil %, has gil %, gil wait %)" })
    .option('switch-interval', {
      type: 'string',
      default: '5ms',
      describe: 'sys.setswitchinterval of the program: a waiter waiting this long forces a switch',
      coerce: positive('--switch-interval'),
    })
    .option('hog', { type: 'string', default: '10ms', describe: 'holds longer than this are listed as GIL hogs', coerce: positive('--hog') })
    .option('top', {
      type: 'number',
      default: DEFAULTS.top,
      describe: 'how many longest waits, holds, hogs and blame pairs to show',
      coerce: (top: number) => {
        if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top wants a whole number >= 0, not ${String(top)}`);
        return top;
      },
    })
    .option('interval', {
      type: 'string',
      describe: 'per-window rows (wait, hold, contention per process) of this length, e.g. 100ms',
      coerce: (text: string) => {
        const ns = positive('--interval')(text);
        // Shorter windows than this hold a few events each: noise, at a great cost in memory.
        if (ns < 100_000) throw new UsageError(`--interval wants at least 100us, not '${text}'`);
        return ns;
      },
    })
    .option('weight', {
      choices: WEIGHTS,
      default: 'blame' as Weight,
      describe: "--format folded: blame (holders' stacks by the wait they caused), wait (waiters' stacks by their wait), offcpu (holds made off a CPU)",
    })
    .option('table', { choices: CSV_TABLES, describe: 'which table --format csv writes (default: threads, or windows with --interval)' })
    .option('merge', { type: 'boolean', default: false, describe: 'the FILEs are JSON summaries: combine them into one' })
    .option('label', {
      type: 'string',
      requiresArg: true,
      describe: 'KEY=VALUE recorded with the summary (repeatable); host=NAME names the host instead of perf.data\'s header',
      // Given once it is a string, repeated an array.
      coerce: (pairs: string | string[]) => parseLabels(([] as string[]).concat(pairs)),
    })
    .option('by', {
      type: 'string',
      requiresArg: true,
      describe: 'roll up across hosts and captures: host, label:KEY, comm (process name) or thread-name',
      coerce: (text: string) => parseBy(text),
    })
    .option('output', outputOption)
    .option('strict', strictOption)
    .parseSync();

  await run(prog, async () => {
    const files = argv._.map(String);
    const reporter = new Reporter(prog, files);
    if (argv.merge && argv.label !== undefined) throw new UsageError('--label labels a summary when it is made; the summaries given to --merge carry their own');
    // A summary was counted with its options: --hog 50ms on a merge would
    // still list the hogs over the 10 ms they were made with.
    for (const flag of ['hog', 'switch-interval']) {
      if (argv.merge && given(args, flag)) throw new UsageError(`--merge takes the options the summaries were made with; drop --${flag} (give it when each summary is made)`);
    }
    const format = argv.format ?? formatFor(argv.output);
    const opts = { switchIntervalNs: argv['switch-interval'], hogNs: argv.hog, top: argv.top, intervalNs: argv.interval, labels: argv.label, folded: format === 'folded' };
    const table: CsvTable = argv.table ?? (opts.intervalNs !== undefined ? 'windows' : 'threads');
    const out = new Output(argv.output);
    const interrupt = new Interrupt();
    try {
      // Refused before any input is read: a format --by cannot write.
      if (argv.by !== undefined && ROLLUP_FORMATTERS[format] === undefined) throw new UsageError(`--by writes table, json, ndjson, csv or markdown, not ${format}`);
      const { summary, broken } = argv.merge ? { summary: await mergeFiles(files, opts.intervalNs, format), broken: undefined } : await summarise(files, opts, argv.strict, reporter, out, interrupt);
      // Cut short by a signal or a broken input: the summary of what was read, and it says so.
      if (interrupt.requested || broken !== undefined) summary.partial = true;
      for (const note of notes(summary, format, argv.per4m)) reporter.say(note);
      if (argv.by !== undefined) {
        await out.write(ROLLUP_FORMATTERS[format]!(rollup(summary, argv.by)));
      } else await out.write(FORMATTERS[format](summary, { per4m: argv.per4m, top: opts.top, table, weight: argv.weight, wide: argv.wide }));
      // On stdout the partial summary stays; an -o file goes, as with any failed run.
      if (broken !== undefined) throw broken;
    } catch (e) {
      out.discard();
      throw e;
    }
    await out.commit();
    if (interrupt.partialNote) reporter.say(interrupt.partialNote);
    return interrupt.exitCode;
  });
}

/** Whether --NAME was among the arguments (its default does not count). */
function given(args: string[], name: string): boolean {
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === `--${name}` || a.startsWith(`--${name}=`));
}

runWhenMain(import.meta.url, main);

/** No --format: a terminal gets the table; a file, the form its extension names. */
function formatFor(output: string | undefined): Format {
  if (output !== undefined && output !== '-') return FORMAT_BY_EXTENSION[extname(output.replace(/\.gz$/, '')).toLowerCase()] ?? 'json';
  return process.stdout.isTTY ? 'table' : 'json';
}

/**
 * The records of every input through one GilStats: its one summary, and the
 * error of an input that broke off (truncated, corrupt), if one did: the
 * summary is then of what was read before the break.
 */
async function summarise(
  files: string[],
  opts: GilStatsOptions,
  strict: boolean,
  reporter: Reporter,
  out: Output,
  interrupt: Interrupt,
): Promise<{ summary: GilStatsJSON; broken?: BrokenInputError }> {
  const bad = new BadInput(reporter, strict, 'unusable record');
  let summary: GilStatsJSON | undefined;
  let broken: BrokenInputError | undefined;
  const stats = new GilStats((s) => (summary = s), bad, opts);
  // gil-state's records; perf-parse's records, perf script text and perf.data go through gil-state here.
  const up = new Upstream(bad);
  const chain = new FirstLine(spansFrom(prog, bad, up), stats);
  try {
    // Nothing goes out until the end: the sink stays empty.
    await pump(await openRecordingsOrText(files, reporter), chain, { out, sink: new TextSink(), bad, interrupt });
  } catch (e) {
    // The driver ended the chain before it raised a broken input's error: the summary is made.
    if (!(e instanceof BrokenInputError) || summary === undefined) throw e;
    broken = e;
  } finally {
    bad.summarise();
  }
  for (const note of up.notes()) reporter.say(note);
  return { summary: summary!, broken };
}

async function mergeFiles(files: string[], intervalNs: number | undefined, format: Format | undefined): Promise<GilStatsJSON> {
  if (files.length === 0) throw new UsageError('--merge needs the JSON summaries to combine');
  stdinOnce(files);
  if (intervalNs !== undefined) throw new UsageError('--merge takes the options the summaries were made with; drop --interval');
  if (format === 'folded') throw new UsageError('folded stacks (--format folded, -o FILE.folded) need the recordings: summaries keep no stacks to fold');
  const list: GilStatsJSON[] = [];
  for (const f of files) {
    const s = parseSummary((await readWhole(f)).toString('utf8'), f);
    if (typeof s === 'string') throw new DataError(s);
    list.push(s);
  }
  try {
    return merge(list, files);
  } catch (e) {
    const msg = (e as Error).message;
    // A TypeError here means a field is missing: a hand-edited or foreign summary.
    throw new DataError(e instanceof TypeError ? `cannot merge: an incomplete gil_stats summary among ${files.join(', ')} (${msg})` : msg);
  }
}
