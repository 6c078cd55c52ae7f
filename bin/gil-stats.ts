#!/usr/bin/env node
// gil-stats: gil-state records in, a summary of who held and who waited out.
import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';
import { extname } from 'node:path';
import {
  cli,
  outputOption,
  strictOption,
  run,
  Output,
  Reporter,
  Malformed,
  Interrupt,
  DataError,
  UsageError,
  parseDuration,
} from '../lib/cli.js';
import { Sink, lineTransform, ndjsonLines, runInputs } from '../lib/stage.js';
import { DEFAULT_OPTIONS, GilStats, checkSummary, merge, type GilStatsJSON } from '../filters/gil-stats.js';
import {
  CSV_TABLES,
  FORMATS,
  type CsvTable,
  type Format,
  formatCsv,
  formatMarkdown,
  formatNdjson,
  formatTable,
  noGilMessage,
} from '../filters/gil-stats-format.js';

const prog = 'gil-stats';

const argv = cli(
  prog,
  `$0 [FILE...]               summarise gil-state output (stdin when no FILE or -)\n$0 --merge A.json B.json...  combine JSON summaries of many captures`,
  [
    ['perf-parse -i perf.data | gil-state | $0', 'the per-thread and per-process table'],
    ['gil-state events.ndjson | $0 --per4m', "per4m's own table, to check against it"],
    ['$0 run.gil.ndjson --format json -o run.stats.json', 'a summary to archive and merge later'],
    ['$0 --merge host*/run.stats.json', 'one summary of a fleet'],
    ['$0 run.gil.ndjson --interval 100ms --format csv > windows.csv', 'per-window rows for plotting'],
  ],
)
  .option('format', {
    alias: 'f',
    choices: FORMATS,
    describe: 'output form (default: table on a terminal; otherwise from the -o extension, else json)',
  })
  .option('per4m', { type: 'boolean', default: false, describe: "per4m's definitions and columns (total, no gil %, has gil %, gil wait %)" })
  .option('switch-interval', {
    type: 'string',
    default: '5ms',
    describe: 'sys.setswitchinterval of the program: a waiter waiting this long forces a switch',
  })
  .option('hog', { type: 'string', default: '10ms', describe: 'holds longer than this are listed as GIL hogs' })
  .option('top', { type: 'number', default: DEFAULT_OPTIONS.top, describe: 'how many longest waits, holds, hogs and blame pairs to show' })
  .option('interval', { type: 'string', describe: 'per-window rows (wait, hold, contention per process) of this length, e.g. 100ms' })
  .option('table', { choices: CSV_TABLES, describe: 'which table --format csv writes (default: threads, or windows with --interval)' })
  .option('merge', { type: 'boolean', default: false, describe: 'the FILEs are JSON summaries: combine them into one' })
  .option('output', outputOption)
  .option('strict', strictOption)
  .parseSync();

await run(prog, async () => {
  const files = argv._.map(String);
  const reporter = new Reporter(prog);
  const top = argv.top;
  if (!Number.isInteger(top) || top < 0) throw new UsageError(`--top wants a whole number >= 0, not ${String(top)}`);
  const opts = {
    switchIntervalNs: positive('--switch-interval', argv['switch-interval']),
    hogNs: positive('--hog', argv.hog),
    top,
    intervalNs: argv.interval === undefined ? undefined : positive('--interval', argv.interval),
  };
  const format: Format = chooseFormat(argv.format as Format | undefined, argv.output);
  const table = (argv.table as CsvTable | undefined) ?? (opts.intervalNs !== undefined ? 'windows' : 'threads');

  let summary: GilStatsJSON;
  const out = new Output(argv.output, reporter);
  try {
    if (argv.merge) {
      if (files.length === 0) throw new UsageError('--merge needs the JSON summaries to combine');
      if (argv.interval !== undefined) throw new UsageError('--merge takes the options the summaries were made with; drop --interval');
      const list: GilStatsJSON[] = [];
      for (const f of files) list.push(await readSummary(f));
      try {
        summary = merge(list);
      } catch (e) {
        const msg = (e as Error).message;
        // A TypeError here means a field is missing: a hand-edited or foreign summary.
        throw new DataError(e instanceof TypeError ? `cannot merge: an incomplete gil_stats summary among ${files.join(', ')} (${msg})` : msg);
      }
    } else {
      const malformed = new Malformed(reporter, argv.strict, 'unusable record');
      const stats = new GilStats(opts, (file, line, why) => malformed.add(file, line, why));
      const sink = new Sink();
      const interrupt = new Interrupt();
      try {
        await runInputs(files, out, interrupt, (input) => lineTransform('utf8', ndjsonLines(input.name, stats, malformed), sink));
      } finally {
        malformed.summarise();
      }
      summary = stats.summary();
    }
    // The table says it itself; machine-readable output would bury it.
    if (!summary.gil_data && format !== 'table' && format !== 'markdown') reporter.say(noGilMessage(summary));
    for (const p of summary.processes) {
      if (p.lookback_lost_ns > 0) {
        reporter.say(`process ${p.pid}: some spans reached back past the lookback buffer; their overlaps are counted as lookback_lost_ns`);
      }
    }
    const fo = { per4m: argv.per4m, top };
    const text =
      format === 'json'
        ? JSON.stringify(summary) + '\n'
        : format === 'ndjson'
          ? formatNdjson(summary)
          : format === 'csv'
            ? formatCsv(summary, table, argv.per4m)
            : format === 'markdown'
              ? formatMarkdown(summary, fo)
              : formatTable(summary, fo);
    await out.write(text);
  } catch (e) {
    out.discard();
    throw e;
  }
  await out.commit();
  return 0;
});

function positive(name: string, text: string): number {
  const ns = parseDuration(text);
  if (!(ns > 0)) throw new UsageError(`${name} wants a duration above zero, not '${text}'`);
  return ns;
}

function chooseFormat(asked: Format | undefined, output: string | undefined): Format {
  if (asked) return asked;
  if (output !== undefined && output !== '-') {
    const ext = extname(output.replace(/\.gz$/, '')).toLowerCase();
    const byExt: Record<string, Format> = { '.json': 'json', '.ndjson': 'ndjson', '.csv': 'csv', '.md': 'markdown', '.txt': 'table' };
    return byExt[ext] ?? 'json';
  }
  return process.stdout.isTTY ? 'table' : 'json';
}

async function readSummary(path: string): Promise<GilStatsJSON> {
  let buf: Buffer;
  try {
    buf = await readFile(path === '-' ? '/dev/stdin' : path);
  } catch (e) {
    throw new UsageError(`${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new DataError(`${path}: not valid gzip data (${(e as Error).message})`);
    }
  }
  let j: unknown;
  try {
    j = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new DataError(`${path}:1: not JSON (${(e as Error).message})`);
  }
  const why = checkSummary(j);
  if (why) throw new DataError(`${path}: ${why}`);
  return j as GilStatsJSON;
}
