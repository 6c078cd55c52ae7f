#!/usr/bin/env node
// to-trace: gil-state records in, a Chrome Trace Event file out (Perfetto, vizviewer, chrome://tracing).
import { cli, runWhenMain, outputOption, strictOption, run, Reporter, BadInput, parseDuration, version } from '../lib/cli.js';
import { UsageError } from '../lib/errors.js';
import { Output } from '../lib/io.js';
import { TextSink } from '../lib/ndjson.js';
import { openRecordingsOrText } from '../lib/perf.js';
import { runStage } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { FirstLine } from '../lib/sniff.js';
import { secondsToNs } from '../lib/trace-time.js';
import { ToTrace, DEFAULTS, type Family } from '../filters/to-trace.js';
import { Upstream, spansFrom } from '../filters/upstream.js';

const prog = 'to-trace';

function families(text: string): Set<Family> {
  const set = new Set<Family>();
  for (const f of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (f !== 'gil' && f !== 'sched') throw new UsageError(`--families: '${f}' is not a family (gil, sched)`);
    set.add(f);
  }
  if (set.size === 0) throw new UsageError("--families wants gil, sched or gil,sched: with none, no thread state would be drawn");
  return set;
}

function pids(list: string[]): Set<number> {
  const set = new Set<number>();
  for (const p of list.flatMap((s) => s.split(','))) {
    if (!/^\s*\d+\s*$/.test(p)) throw new UsageError(`--pid: '${p}' is not a process id`);
    set.add(Number(p));
  }
  return set;
}

function seconds(name: string): (text: string) => number {
  return (text) => {
    const ns = secondsToNs(text);
    if (ns === undefined) throw new UsageError(`--${name}: '${text}' is not a time in seconds (as perf script prints it: 154.053896)`);
    return ns;
  };
}

export async function main(args: string[]): Promise<void> {
  const argv = cli(prog, '$0 [FILE...]    read gil-state records (stdin when no FILE or -), write a trace', [
    ['perf-parse -i perf.data | gil-state | $0 -o gil.json', 'open gil.json in ui.perfetto.dev or vizviewer'],
    ['... | $0 -o gil.json.gz --min-dur 50us', 'a big capture, smaller: gzip, no spans under 50 µs'],
    ['... | $0 --families gil --pid 2578 --from 154.05 --to 154.10', 'only the GIL of one process, 50 ms of it'],
    ['... | $0 --format ndjson | jq -c \'select(.ph == "C")\'', 'one trace event per line'],
  ], args)
    .option('format', { choices: ['json', 'ndjson'] as const, default: 'json' as const, describe: 'json: the trace file; ndjson: one trace event per line' })
    .option('families', {
      type: 'string',
      default: 'gil,sched',
      describe: 'state families to draw: gil (wait, held, handoff), sched (running, runnable, S, S(GIL), D)',
      coerce: families,
    })
    .option('counters', { type: 'boolean', default: true, describe: 'per-process counters: threads waiting for the GIL, and the holder (--no-counters)' })
    .option('flows', { type: 'boolean', default: true, describe: 'arrows from the thread that released the GIL to the next holder (--no-flows)' })
    .option('diagnostics', {
      type: 'boolean',
      default: true,
      describe: 'lost events, anomalies and cut spans as instant events (--no-diagnostics)',
    })
    .option('min-dur', {
      type: 'string',
      describe: 'leave out spans shorter than this (10us, 1ms); counters still count them',
      requiresArg: true,
      coerce: parseDuration,
    })
    .option('pid', { type: 'string', array: true, describe: 'only this process (repeat, or a comma list)', requiresArg: true, coerce: pids })
    .option('from', { type: 'string', describe: 'start of the time window, in seconds as perf script prints them', requiresArg: true, coerce: seconds('from') })
    .option('to', { type: 'string', describe: 'end of the time window, in seconds as perf script prints them', requiresArg: true, coerce: seconds('to') })
    .option('output', outputOption)
    .option('strict', strictOption)
    .parseSync();

  await run(prog, async () => {
    if (argv.from !== undefined && argv.to !== undefined && argv.to < argv.from) throw new UsageError('--to is before --from');
    const reporter = new Reporter(prog, argv._.map(String));
    const bad = new BadInput(reporter, argv.strict, 'unusable record');
    const io = { out: new Output(argv.output), sink: new TextSink(), bad, interrupt: new Interrupt() };
    const toTrace = new ToTrace(io.sink.text, bad, {
      ...DEFAULTS,
      format: argv.format,
      families: argv.families,
      counters: argv.counters,
      flows: argv.flows,
      diagnostics: argv.diagnostics,
      minDur: argv['min-dur'] ?? 0,
      pids: argv.pid,
      from: argv.from,
      to: argv.to,
      version: version(),
    });
    // gil-state's records; perf-parse's records, perf script text and perf.data go through gil-state here.
    const up = new Upstream(bad);
    const chain = new FirstLine(spansFrom(prog, bad, up), toTrace);
    await runStage(await openRecordingsOrText(argv._.map(String), reporter), chain, io);
    for (const note of up.notes()) reporter.say(note);
    for (const note of toTrace.notes(bad.count)) reporter.say(note);
    await io.out.commit();
    if (io.interrupt.partialNote) reporter.say(io.interrupt.partialNote);
    return io.interrupt.exitCode;
  });
}

runWhenMain(import.meta.url, main);
