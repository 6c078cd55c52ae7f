#!/usr/bin/env node
// to-trace: gil-state records in, a Chrome Trace Event file out (Perfetto, vizviewer, chrome://tracing).
import { cli, outputOption, strictOption, run, Output, Reporter, Malformed, Interrupt, UsageError, parseDuration, version } from '../lib/cli.js';
import { Sink, lineTransform, ndjsonLines, runInputs } from '../lib/stage.js';
import { TraceBuilder, DEFAULT_OPTIONS, type Family } from '../filters/to-trace.js';
import { secondsToNs } from '../lib/trace-time.js';

const prog = 'to-trace';

const argv = cli(prog, '$0 [FILE...]    read gil-state records (stdin when no FILE or -), write a trace', [
  ['perf-parse -i perf.data | gil-state | $0 -o gil.json', 'open gil.json in ui.perfetto.dev or vizviewer'],
  ['... | $0 -o gil.json.gz --min-dur 50us', 'a big capture, smaller: gzip, no spans under 50 µs'],
  ['... | $0 --families gil --pid 2578 --from 154.05 --to 154.10', 'only the GIL of one process, 50 ms of it'],
  ['... | $0 --format ndjson | jq -c \'select(.ph == "C")\'', 'one trace event per line'],
])
  .option('format', { choices: ['json', 'ndjson'] as const, default: 'json', describe: 'json: the trace file; ndjson: one trace event per line' })
  .option('families', {
    type: 'string',
    default: 'gil,sched',
    describe: 'state families to draw: gil (wait, held, handoff), sched (running, runnable, S, S(GIL), D)',
  })
  .option('counters', { type: 'boolean', default: true, describe: 'per-process counters: threads waiting for the GIL, and the holder (--no-counters)' })
  .option('flows', { type: 'boolean', default: true, describe: 'arrows from the thread that released the GIL to the next holder (--no-flows)' })
  .option('diagnostics', {
    type: 'boolean',
    default: true,
    describe: 'lost events, anomalies and cut spans as instant events (--no-diagnostics)',
  })
  .option('min-dur', { type: 'string', describe: 'leave out spans shorter than this (10us, 1ms); counters still count them', requiresArg: true })
  .option('pid', { type: 'string', array: true, describe: 'only this process (repeat, or a comma list)', requiresArg: true })
  .option('from', { type: 'string', describe: 'start of the time window, in seconds as perf script prints them', requiresArg: true })
  .option('to', { type: 'string', describe: 'end of the time window, in seconds as perf script prints them', requiresArg: true })
  .option('output', outputOption)
  .option('strict', strictOption)
  .parseSync();

function families(text: string): Set<Family> {
  const set = new Set<Family>();
  for (const f of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (f !== 'gil' && f !== 'sched') throw new UsageError(`--families: '${f}' is not a family (gil, sched)`);
    set.add(f);
  }
  return set;
}

function pids(list: string[] | undefined): Set<number> | undefined {
  if (list === undefined) return undefined;
  const set = new Set<number>();
  for (const p of list.flatMap((s) => s.split(','))) {
    if (!/^\s*\d+\s*$/.test(p)) throw new UsageError(`--pid: '${p}' is not a process id`);
    set.add(Number(p));
  }
  return set;
}

function seconds(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ns = secondsToNs(text);
  if (ns === undefined) throw new UsageError(`--${name}: '${text}' is not a time in seconds (as perf script prints it: 154.053896)`);
  return ns;
}

await run(prog, async () => {
  const reporter = new Reporter(prog);
  const malformed = new Malformed(reporter, argv.strict, 'unusable record');
  const from = seconds('from', argv.from);
  const to = seconds('to', argv.to);
  if (from !== undefined && to !== undefined && to < from) throw new UsageError('--to is before --from');
  const opts = {
    ...DEFAULT_OPTIONS,
    format: argv.format as 'json' | 'ndjson',
    families: families(argv.families),
    counters: argv.counters,
    flows: argv.flows,
    diagnostics: argv.diagnostics,
    minDur: argv['min-dur'] === undefined ? 0 : parseDuration(argv['min-dur']),
    pids: pids(argv.pid),
    from,
    to,
    version: version(),
  };
  const out = new Output(argv.output, reporter);
  const interrupt = new Interrupt();
  const sink = new Sink();
  let where = { file: 'stdin', line: 0 };
  const builder = new TraceBuilder(opts, (why) => malformed.add(where.file, where.line, why));
  const handler = {
    record(rec: Parameters<TraceBuilder['record']>[0], file: string, line: number) {
      where = { file, line };
      builder.record(rec);
      sink.buf += builder.take();
    },
  };
  try {
    await runInputs(argv._.map(String), out, interrupt, (input) => lineTransform('utf8', ndjsonLines(input.name, handler, malformed), sink));
    for (const s of builder.finish()) await out.write(s);
  } catch (e) {
    out.discard();
    throw e;
  }
  malformed.summarise();
  const s = builder.stats;
  if (s.spans === 0 && s.records > 0 && malformed.count === 0) reporter.say('no span records in the input: is it gil-state output? (perf-parse | gil-state | to-trace)');
  if (s.noPid > 0) reporter.say(`${s.noPid} spans had no pid: each such thread is drawn as a process of its own`);
  if (s.gilSource === 'none') reporter.say('no GIL events in the input: only scheduler states are drawn; nothing here says who held the GIL');
  if (s.lateCounters > 0) {
    reporter.say(`${s.lateCounters} GIL waits/holds began before the counters written so far: the counters miss them up to that point`);
  }
  await out.commit();
  return interrupt.requested ? 130 : 0;
});
