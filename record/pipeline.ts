// After the recording: perf script's text through perf-parse and gil-state,
// and from there at once into to-trace (the trace file), gil-stats (the table
// on our stdout) and, with --states, gil-state's records; all in this
// process, nothing serialised between the stages. merge-trace then joins
// VizTracer's file to the trace. The same stages as the README's pipeline.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BadInput, Reporter, progress, version } from '../lib/cli.js';
import { connect, tee, type Filter } from '../lib/filter.js';
import { readFileBytes } from '../lib/file-bytes.js';
import { type Input, Output } from '../lib/io.js';
import { TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { recordingInput } from '../lib/perf.js';
import { FirstLine } from '../lib/sniff.js';
import { pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState } from '../filters/gil-state.js';
import { DEFAULTS as STATS_DEFAULTS, GilStats, type GilStatsJSON } from '../filters/gil-stats.js';
import { FORMATTERS, notes as statsNotes } from '../filters/gil-stats/format.js';
import { DEFAULTS as TRACE_DEFAULTS, ToTrace } from '../filters/to-trace.js';
import { scanFiles } from '../filters/merge-trace/split.js';
import { planMerge } from '../filters/merge-trace/plan.js';
import { writeMerged } from '../filters/merge-trace/write.js';
import { type AnyRecord, recordJson } from '../filters/records.js';
import { Readers, recordsFrom } from '../filters/readers.js';

export interface PipelineOptions {
  perfData: string;
  /** The trace to write. */
  output: string;
  /** Keep gil-state's output here (for jq recipes). */
  states?: string;
  /** A VizTracer JSON to merge in. */
  viztracer?: string;
  say: (msg: string) => void;
}

export async function runPipeline(o: PipelineOptions): Promise<{ lost: number; events: number; trace: string; empty?: true }> {
  let viz = o.viztracer;
  if (viz !== undefined && !existsSync(viz)) {
    o.say(`VizTracer wrote no ${viz} (did the program fail?): writing the GIL trace alone`);
    viz = undefined;
  }
  const tmp = viz ? mkdtempSync(join(tmpdir(), 'gil-record-')) : undefined;
  try {
    const gilTrace = tmp ? join(tmp, 'gil-trace.json') : o.output;
    o.say(`perf-parse -i ${o.perfData} | gil-state | to-trace -o ${o.output}, gil-stats${o.states ? `, and gil-state's records in ${o.states}` : ''}`);
    // The native reader, or perf script where the recording needs it (callchains): what perf-parse -i reads.
    const input = await recordingInput(o.perfData, new Reporter('perf-parse'));
    const { lost, events, summary, empty } = await stages(input, { trace: gilTrace, states: o.states }, input.done);
    if (empty) {
      // Stopped before perf wrote an event (Ctrl-C at once): nothing to say, and the outputs of an earlier run stay.
      o.say(`${o.perfData} holds no event (perf was stopped before it recorded one): no trace or table made, ${o.output}${o.states ? ` and ${o.states}` : ''} left as ${o.states ? 'they were' : 'it was'}`);
      return { lost, events, trace: o.output, empty: true };
    }
    if (viz) {
      o.say(`merge-trace with ${viz}`);
      await mergeTraces([gilTrace, viz], o.output);
    }
    process.stdout.write(FORMATTERS.table(summary, { per4m: false, top: STATS_DEFAULTS.top, table: 'threads' }));
    for (const note of statsNotes(summary, 'table')) new Reporter('gil-stats').say(note);
    return { lost, events, trace: o.output };
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * perf script's text or a perf.data stream from INPUT through perf-parse and gil-state, then into
 * to-trace (the file `trace`), gil-stats and, when asked, a states file;
 * each stage says on stderr what it would say run on its own. `done` is
 * awaited once the input ended (perf script's exit). Returns the events perf
 * lost, as gil-state counted them, the events it kept, and gil-stats' summary.
 */
export async function stages(
  input: Input,
  files: { trace: string; states?: string },
  done: () => Promise<void> = async () => undefined,
): Promise<{ lost: number; events: number; summary: GilStatsJSON; empty: boolean }> {
  const say = { parse: new Reporter('perf-parse'), state: new Reporter('gil-state'), trace: new Reporter('to-trace') };
  // Nothing downstream can be malformed: each stage gets the records the one before made.
  const bad = new BadInput(say.parse, false);
  const trace = { out: new Output(files.trace), sink: new TextSink() };
  const states = files.states !== undefined ? { out: new Output(files.states), sink: new TextSink() } : undefined;
  const toTrace = new ToTrace(trace.sink.text, bad, { ...TRACE_DEFAULTS, version: version() });
  let summary: GilStatsJSON | undefined;
  const gilStats = new GilStats((s) => (summary = s), bad, STATS_DEFAULTS);
  const after: Array<Filter<AnyRecord>> = [toTrace, gilStats];
  if (states) {
    const encode = ndjsonEncoder(states.sink, recordJson);
    after.push({ write: encode, end: () => undefined });
  }
  // perf script's text, or a recording the native reader streams: its first bytes say which.
  const readers = new Readers(bad);
  let state!: GilState;
  let events = 0;
  let samples = 0;
  const gilState = connect((emit) => (state = new GilState(emit, bad, GIL_STATE_DEFAULTS)), tee(after));
  const counted: Filter<AnyRecord> = {
    write: (r) => {
      events++;
      if (r.type === 'sample') samples++;
      gilState.write(r);
    },
    endInput: () => gilState.endInput?.(),
    end: () => gilState.end(),
    more: () => gilState.more?.() === true,
  };
  const head = new FirstLine(recordsFrom('perf-parse', bad, readers), counted);
  const outs = [trace.out, ...(states ? [states.out] : [])];
  // A Ctrl-C now exits at once (gil-record's own handler): no half file left behind.
  const discard = (): void => outs.forEach((x) => x.discard());
  process.on('exit', discard);
  const stopProgress = progress('perf-parse', () => readers.read());
  try {
    await pump([input], head, { out: trace.out, sink: trace.sink, bad, interrupt: new Interrupt({ handle: false }), also: states ? [states] : [] });
    await done();
  } catch (e) {
    discard();
    throw e;
  } finally {
    stopProgress();
    process.off('exit', discard);
    bad.summarise();
    for (const note of readers.notes()) say.parse.say(note);
  }
  if (samples === 0) {
    // The stages' notes would blame the set-up ("no GIL events: add probes") for a recording stopped at once.
    discard();
    return { lost: state.lostEvents, events, summary: summary!, empty: true };
  }
  for (const note of state.notes()) say.state.say(note);
  for (const note of toTrace.notes()) say.trace.say(note);
  for (const x of outs) await x.commit();
  return { lost: state.lostEvents, events, summary: summary!, empty: false };
}

/** merge-trace FILES -o OUTPUT, on regular files, in this process. */
async function mergeTraces(files: string[], output: string): Promise<void> {
  const say = new Reporter('merge-trace');
  // As merge-trace scans them: on worker threads when big, the biggest in parts.
  const summaries = await scanFiles(files.map((path) => ({ path, size: statSync(path, { throwIfNoEntry: false })?.size ?? 0, args: { keepTop: true, embedSources: false, exactTimes: false } })));
  for (const s of summaries) if (!s.usable) say.say(`${s.problem}: skipped`);
  const usable = summaries.flatMap((s, i) => (s.usable ? [i] : []));
  const plan = planMerge(summaries, {
    align: false,
    noNegative: false,
    shifts: new Map(),
    pids: { all: new Map(), byFile: new Map() },
    tids: { all: new Map(), byFile: new Map() },
    version: `merge-trace (gilpipe ${version()})`,
  });
  for (const w of plan.warnings) say.say(w);
  const out = new Output(output);
  try {
    await writeMerged(
      plan,
      { write: (b, written) => out.write(b, written) },
      async (k) => readFileBytes(files[usable[k]!]!),
    );
  } catch (e) {
    out.discard();
    throw e;
  }
  await out.commit();
}
