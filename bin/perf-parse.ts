#!/usr/bin/env node
// perf-parse: `perf script` text (or a perf.data file) in, NDJSON records out.
import { statSync } from 'node:fs';
import { cli, runWhenMain, outputOption, strictOption, run, progress, Reporter, BadInput } from '../lib/cli.js';
import { DataError, UsageError } from '../lib/errors.js';
import { Output } from '../lib/io.js';
import { TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { openRecordingsOrText, recordingInput } from '../lib/perf.js';
import { FirstLine } from '../lib/sniff.js';
import { pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { type AnyRecord, recordJson } from '../filters/records.js';
import { Readers, recordsFrom } from '../filters/readers.js';

const prog = 'perf-parse';

export async function main(args: string[]): Promise<void> {
  const argv = cli(prog, `$0 [FILE...]    read perf script text (stdin when no FILE or -)\n$0 -i perf.data  read a recording (perf.data, file or pipe mode)`, [
    ['perf script --ns | $0 | gil-state | to-trace > trace.json', 'the usual pipeline'],
    ['$0 -i perf.data -o events.ndjson.gz', 'parse a recording, compressed output'],
    ["$0 capture.txt.gz | jq -c 'select(.event == \"sched:sched_switch\")'", 'pick events with jq'],
  ], args)
    .option('input', {
      alias: 'i',
      type: 'string',
      requiresArg: true,
      describe: 'a perf.data file (- for stdin): its records, as perf script would print them with the fields the pipeline needs (a FILE that is perf.data is read so too)',
    })
    .option('output', outputOption)
    .option('strict', strictOption)
    .parseSync();

  await run(prog, async () => {
    const files = argv._.map(String);
    const reporter = new Reporter(prog, argv.input !== undefined ? [argv.input] : files);
    const bad = new BadInput(reporter, argv.strict);
    const io = { out: new Output(argv.output), sink: new TextSink(), bad, interrupt: new Interrupt() };
    const encode = ndjsonEncoder<AnyRecord>(io.sink, recordJson);
    // perf script's text (a file or stdin) or a perf.data recording; what is neither is named, with what reads it.
    const readers = new Readers(bad);
    const chain = new FirstLine(recordsFrom(prog, bad, readers), { write: encode, end: () => undefined });
    try {
      if (argv.input !== undefined && files.length > 0) throw new UsageError('give either -i perf.data or text files, not both');
      // `-i -`, a FIFO or /dev/stdin is a stream, read as any stdin is (a
      // file-mode recording through a copy): it cannot be seeked.
      const streamed = argv.input !== undefined && isStream(argv.input);
      const recording = streamed ? undefined : argv.input;
      const inputs = recording !== undefined ? [await recordingInput(recording, reporter)] : await openRecordingsOrText(streamed ? [argv.input!] : files, reporter);
      const stop = inputs.some((i) => i.done !== undefined || i.open !== undefined) ? progress(prog, () => readers.read()) : () => undefined;
      try {
        await pump(inputs, chain, io);
      } finally {
        stop();
      }
      // `-i -` says a recording comes: an empty stdin is not one (-i FILE of an empty file says so too).
      if (streamed && readers.read() === 0 && !io.interrupt.requested) throw new DataError(`${argv.input === '-' ? 'stdin' : argv.input}: empty: no perf.data header`);
    } catch (e) {
      io.out.discard();
      throw e;
    } finally {
      bad.summarise();
      for (const note of readers.notes()) reporter.say(note);
    }
    await io.out.commit();
    if (io.interrupt.partialNote) reporter.say(io.interrupt.partialNote);
    return io.interrupt.exitCode;
  });
}

/** stdin, or a path that names no file or folder (a FIFO, a device, /dev/stdin). */
function isStream(path: string): boolean {
  if (path === '-') return true;
  const st = statSync(path, { throwIfNoEntry: false });
  return st !== undefined && !st.isFile() && !st.isDirectory();
}

runWhenMain(import.meta.url, main);
