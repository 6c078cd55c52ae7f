#!/usr/bin/env node
// perf-parse: `perf script` text (or a perf.data file) in, NDJSON records out.
import { cli, outputOption, strictOption, run, Output, Reporter, Malformed, Interrupt, DataError } from '../lib/cli.js';
import { Sink, lineTransform, runInputs, runStream } from '../lib/stage.js';
import { PerfParser, recordJson } from '../filters/perf-parse.js';
import { perfScript } from '../lib/perf.js';

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
  const malformed = new Malformed(reporter, argv.strict);
  const out = new Output(argv.output, reporter);
  const interrupt = new Interrupt();
  const sink = new Sink(recordJson);
  const parsers: PerfParser[] = [];
  const stageFor = (input: { name: string }) => {
    const parser = new PerfParser({ emit: sink.emit, malformed: (line, why) => malformed.add(input.name, line, why) });
    parsers.push(parser);
    return lineTransform('latin1', parser, sink);
  };
  try {
    if (argv.input !== undefined) {
      if (files.length > 0) throw new DataError('give either -i perf.data or text files, not both');
      const perf = await perfScript(argv.input, reporter);
      const stop = progress(parsers);
      try {
        await runStream(perf.input, out, interrupt, stageFor(perf.input));
        await perf.done();
      } finally {
        stop();
      }
    } else {
      await runInputs(files, out, interrupt, stageFor);
    }
  } catch (e) {
    out.discard();
    throw e;
  } finally {
    malformed.summarise();
    const backwards = parsers.reduce((n, p) => n + p.stats.backwards, 0);
    const samples = parsers.reduce((n, p) => n + p.stats.samples + p.stats.records, 0);
    if (backwards > 2 && backwards > samples / 20) {
      reporter.say(
        `time went backwards ${backwards} times in ${samples} events: was this printed with --deltatime? Stages after this need absolute times (perf script --ns).`,
      );
    }
    const lost = parsers.reduce((n, p) => n + p.stats.lost, 0);
    if (lost > 0) reporter.say(`perf lost ${lost} events while recording (PERF_RECORD_LOST): spans across those gaps are unknown`);
  }
  await out.commit();
  return interrupt.requested ? 130 : 0;
});

/** A line count on stderr once a second while perf script runs, when a person is watching. */
function progress(parsers: PerfParser[]): () => void {
  if (!process.stderr.isTTY) return () => undefined;
  const timer = setInterval(() => {
    const n = parsers.reduce((sum, p) => sum + p.stats.lines, 0);
    process.stderr.write(`\r${prog}: ${n.toLocaleString('en')} lines read`);
  }, 1000);
  return () => {
    clearInterval(timer);
    process.stderr.write('\r\x1b[K');
  };
}
