#!/usr/bin/env node
// gil-state: perf-parse records in, per-thread GIL and scheduler spans out.
import { cli, outputOption, strictOption, run, Reporter, BadInput } from '../lib/cli.js';
import { UsageError } from '../lib/errors.js';
import { connect } from '../lib/filter.js';
import { Output } from '../lib/io.js';
import { JSON_LINES, LineSplitter } from '../lib/lines.js';
import { NdjsonDecoder, TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { openInputs, pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { GilState, DEFAULTS } from '../filters/gil-state.js';
import { narrow, recordJson } from '../filters/records.js';

const prog = 'gil-state';

const argv = cli(prog, '$0 [FILE...]    read perf-parse records (stdin when no FILE or -)', [
  ['perf script --ns -F +pid | perf-parse | $0 | to-trace > trace.json', 'GIL timeline'],
  ['perf-parse -i perf.data | $0 | gil-stats', 'GIL statistics'],
  ["perf-parse -i perf.data | $0 | jq -c 'select(.type == \"span\" and .state == \"hold\" and .dur > 10e6)'", 'holds over 10 ms'],
])
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

function regex(name: string, source: string): RegExp {
  try {
    return new RegExp(source);
  } catch (e) {
    throw new UsageError(`--${name}: not a regular expression: ${(e as Error).message}`);
  }
}

await run(prog, async () => {
  const reporter = new Reporter(prog);
  const bad = new BadInput(reporter, argv.strict);
  const io = { out: new Output(argv.output, reporter), sink: new TextSink(), bad, interrupt: new Interrupt() };
  const state = new GilState(ndjsonEncoder(io.sink, recordJson), bad, {
    ...DEFAULTS,
    takeGil: regex('take-gil', argv['take-gil']),
    dropGil: regex('drop-gil', argv['drop-gil']),
    condWait: regex('cond-wait', argv['cond-wait']),
    keepSamples: argv['keep-samples'],
  });
  const chain = connect((emit) => new LineSplitter(emit, bad, JSON_LINES), connect((emit) => new NdjsonDecoder(emit, bad, narrow), state));
  try {
    // Spans still open at the end of the last input are flushed as truncated.
    await pump(await openInputs(argv._.map(String)), chain, io);
  } catch (e) {
    io.out.discard();
    throw e;
  }
  bad.summarise();
  if (state.counts.has('no_pid')) {
    reporter.say(
      'the input has no pid column: threads were grouped into processes from fork records, and a thread whose parent was not recorded counts as its own process. ' +
        'One GIL is per process, so record the pid: perf script -F +pid, or perf-parse -i perf.data (which asks for it).',
    );
  }
  const counts = [...state.counts].filter(([code, n]) => n > 0 && code !== 'no_pid').map(([code, n]) => `${n} ${code}`);
  if (counts.length > 0) reporter.say(`anomalies: ${counts.join(', ')} (see the diagnostic records)`);
  if (state.unread > 0) {
    reporter.say(`${state.unread} scheduler samples had no readable fields (a thread name with a newline cuts perf's line): passed through, not used`);
  }
  if (state.gilSource === 'none') {
    reporter.say(
      'NO GIL EVENTS in the input: no take_gil/drop_gil probes (nor the pthread_cond_timedwait fallback, nor take_gil in switch-out stacks). ' +
        'Only scheduler states are known; nothing here says who held the GIL. Record with gil-record, or add probes: ' +
        'perf probe -x LIBPYTHON -a take_gil -a take_gil%return -a drop_gil -a drop_gil%return',
    );
  } else if (state.gilSource === 'cond_timedwait') {
    reporter.say('GIL waits come from pthread_cond_timedwait probes (stripped interpreter): waits only, no holds, and other condition-variable waits may be among them');
  }
  await io.out.commit();
  return io.interrupt.exitCode;
});
