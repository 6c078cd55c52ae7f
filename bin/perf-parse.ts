#!/usr/bin/env node
// perf-parse: `perf script` text (or a perf.data file) in, NDJSON records out.
import { cli, outputOption, strictOption, run, progress, Reporter, BadInput } from '../lib/cli.js';
import { DataError } from '../lib/errors.js';
import { Output } from '../lib/io.js';
import { connect } from '../lib/filter.js';
import { LineSplitter, PERF_TEXT } from '../lib/lines.js';
import { TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { perfScript } from '../lib/perf.js';
import { openInputs, pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { PerfParser } from '../filters/perf-parse.js';
import { recordJson } from '../filters/records.js';

const prog = 'perf-parse';

const argv = cli(prog, `$0 [FILE...]    read perf script text (stdin when no FILE or -)\n$0 -i perf.data  run perf script on a recording`, [
  ['perf script --ns | $0 | gil-state | to-trace > trace.json', 'the usual pipeline'],
  ['$0 -i perf.data -o events.ndjson.gz', 'parse a recording, compressed output'],
  ["$0 capture.txt.gz | jq -c 'select(.event == \"sched:sched_switch\")'", 'pick events with jq'],
])
  .option('input', {
    alias: 'i',
    type: 'string',
    requiresArg: true,
    describe: 'a perf.data file: run `perf script` on it with the fields the pipeline needs',
  })
  .option('output', outputOption)
  .option('strict', strictOption)
  .parseSync();

await run(prog, async () => {
  const files = argv._.map(String);
  const reporter = new Reporter(prog);
  const bad = new BadInput(reporter, argv.strict);
  const io = { out: new Output(argv.output, reporter), sink: new TextSink(), bad, interrupt: new Interrupt() };
  const parser = new PerfParser(ndjsonEncoder(io.sink, recordJson), bad);
  const chain = connect((emit) => new LineSplitter(emit, bad, PERF_TEXT), parser);
  try {
    if (argv.input !== undefined) {
      if (files.length > 0) throw new DataError('give either -i perf.data or text files, not both');
      const perf = await perfScript(argv.input, reporter);
      const stop = progress(prog, () => parser.stats.lines);
      try {
        await pump([perf.input], chain, io);
        await perf.done();
      } finally {
        stop();
      }
    } else {
      await pump(await openInputs(files), chain, io);
    }
  } catch (e) {
    io.out.discard();
    throw e;
  } finally {
    bad.summarise();
    for (const note of parser.notes()) reporter.say(note);
  }
  await io.out.commit();
  return io.interrupt.exitCode;
});
