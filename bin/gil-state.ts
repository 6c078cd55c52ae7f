#!/usr/bin/env node
// gil-state: perf-parse records in, per-thread GIL and scheduler spans out.
import { cli, runWhenMain, outputOption, strictOption, run, Reporter, BadInput } from '../lib/cli.js';
import { UsageError } from '../lib/errors.js';
import { Output } from '../lib/io.js';
import { TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { openRecordingsOrText } from '../lib/perf.js';
import { runStage } from '../lib/run-stage.js';
import { compose } from '../lib/filter.js';
import { Interrupt } from '../lib/signals.js';
import { FirstLine } from '../lib/sniff.js';
import { DEFAULTS } from '../filters/gil-state.js';
import { recordJson } from '../filters/records.js';
import { Upstream, recordsFrom } from '../filters/upstream.js';

const prog = 'gil-state';

function regex(name: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new UsageError(`--${name}: not a regular expression: ${(e as Error).message}`);
  }
}

export async function main(args: string[]): Promise<void> {
  const argv = cli(prog, '$0 [FILE...]    read perf-parse records, perf script text or perf.data (stdin when no FILE or -)', [
    ['perf script --ns -F +pid | perf-parse | $0 | to-trace > trace.json', 'GIL timeline'],
    ['perf-parse -i perf.data | $0 | gil-stats', 'GIL statistics'],
    ["perf-parse -i perf.data | $0 | jq -c 'select(.type == \"span\" and .state == \"hold\" and .dur > 10e6)'", 'holds over 10 ms'],
  ], args)
    .option('take-gil', { type: 'string', describe: 'regex for take_gil probe names (after the group)', default: DEFAULTS.takeGil.source })
    .option('drop-gil', { type: 'string', describe: 'regex for drop_gil probe names', default: DEFAULTS.dropGil.source })
    .option('cond-wait', {
      type: 'string',
      describe: 'regex for pthread_cond_timedwait probe names (stripped interpreters)',
      default: DEFAULTS.condWait.source,
    })
    .option('keep-samples', { type: 'boolean', default: false, describe: 'also forward the samples gil-state used' })
    .option('output', outputOption)
    .option('strict', strictOption)
    .parseSync();

  await run(prog, async () => {
    const reporter = new Reporter(prog, argv._.map(String));
    const bad = new BadInput(reporter, argv.strict);
    const io = { out: new Output(argv.output), sink: new TextSink(), bad, interrupt: new Interrupt() };
    const options = {
      ...DEFAULTS,
      takeGil: regex('take-gil', argv['take-gil']),
      dropGil: regex('drop-gil', argv['drop-gil']),
      condWait: regex('cond-wait', argv['cond-wait']),
      keepSamples: argv['keep-samples'],
    };
    // Each input is a capture of its own, read by a GilState of its own (perf
    // script text and perf.data through perf-parse first), as gil-stats and
    // to-trace read them: two recordings given at once are never one
    // timeline, whose threads of one pid would run on through the other's.
    const up = new Upstream(bad, options);
    const records = recordsFrom(prog, bad, up);
    const chain = new FirstLine((line, head) => compose(records(line, head), (emit) => up.state(emit)), { write: ndjsonEncoder(io.sink, recordJson), end: () => undefined });
    // Spans still open at the end of an input are flushed as truncated.
    await runStage(await openRecordingsOrText(argv._.map(String), reporter), chain, io);
    for (const note of up.notes()) reporter.say(note);
    await io.out.commit();
    if (io.interrupt.partialNote) reporter.say(io.interrupt.partialNote);
    return io.interrupt.exitCode;
  });
}

runWhenMain(import.meta.url, main);
