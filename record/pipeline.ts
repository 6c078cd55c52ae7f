// After the recording: perf-parse | gil-state > STATES, then to-trace, the
// gil-stats table on our stdout, and merge-trace with VizTracer's file when
// there is one: the pipeline the README shows, with the same stages.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadInput, Reporter, progress } from '../lib/cli.js';
import { connect } from '../lib/filter.js';
import { type Input, Output } from '../lib/io.js';
import { LineSplitter, PERF_TEXT } from '../lib/lines.js';
import { TextSink, ndjsonEncoder } from '../lib/ndjson.js';
import { perfScript } from '../lib/perf.js';
import { pump } from '../lib/run-stage.js';
import { Interrupt } from '../lib/signals.js';
import { PerfParser } from '../filters/perf-parse.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState } from '../filters/gil-state.js';
import { recordJson } from '../filters/records.js';
import { RecordError } from './errors.js';

export interface PipelineOptions {
  perfData: string;
  /** The trace to write. */
  output: string;
  /** Keep gil-state's output here (for jq recipes); else it lives in a temp dir. */
  states?: string;
  /** A VizTracer JSON to merge in. */
  viztracer?: string;
  say: (msg: string) => void;
}

export async function runPipeline(o: PipelineOptions): Promise<{ lost: number; trace: string }> {
  requireStages(o);
  const tmp = mkdtempSync(join(tmpdir(), 'gil-record-'));
  try {
    // gil-stats names its input in the table's title: call it after the recording.
    const statesName = `${basename(o.perfData)}.gil.ndjson`;
    const states = o.states ?? join(tmp, statesName);
    o.say(`perf-parse -i ${o.perfData} | gil-state`);
    const perf = await perfScript(o.perfData, new Reporter('perf-parse'));
    const lost = await statesStage(perf.input, states, perf.done);
    let viz = o.viztracer;
    if (viz !== undefined && !existsSync(viz)) {
      o.say(`VizTracer wrote no ${viz} (did the program fail?): writing the GIL trace alone`);
      viz = undefined;
    }
    const gilTrace = viz ? join(tmp, 'gil-trace.json') : o.output;
    o.say(`to-trace -o ${o.output}`);
    await traceStage(states, gilTrace);
    if (viz) {
      o.say(`merge-trace with ${viz}`);
      await mergeStage(gilTrace, viz, o.output);
    }
    await statsStage(states, o.states ? states : statesName);
    return { lost, trace: o.output };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// perf-parse | gil-state, in this process

/**
 * perf script's text from INPUT through perf-parse and gil-state into the
 * file STATES, saying on stderr what each stage would say run on its own;
 * `done` is awaited once the input ended (perf script's exit). Returns the
 * events perf lost, as gil-state counted them.
 */
export async function statesStage(input: Input, states: string, done: () => Promise<void> = async () => undefined): Promise<number> {
  const parseSays = new Reporter('perf-parse');
  const stateSays = new Reporter('gil-state');
  // gil-state's input cannot be malformed here: it gets perf-parse's records as they are made.
  const bad = new BadInput(parseSays, false);
  const out = new Output(states, stateSays);
  const sink = new TextSink();
  const state = new GilState(ndjsonEncoder(sink, recordJson), bad, GIL_STATE_DEFAULTS);
  let parser!: PerfParser;
  const head = connect(
    (emit) => new LineSplitter(emit, bad, PERF_TEXT),
    connect((emit) => (parser = new PerfParser(emit, bad)), state),
  );
  // A Ctrl-C now exits at once (gil-record's own handler): no half file left behind.
  const discard = (): void => out.discard();
  process.on('exit', discard);
  const stopProgress = progress('perf-parse', () => parser.stats.lines);
  try {
    await pump([input], head, { out, sink, bad, interrupt: new Interrupt() });
    await done();
  } catch (e) {
    out.discard();
    throw e;
  } finally {
    stopProgress();
    process.off('exit', discard);
    bad.summarise();
    for (const note of parser.notes()) parseSays.say(note);
  }
  for (const note of state.notes()) stateSays.say(note);
  await out.commit();
  return state.lostEvents;
}

// ---------------------------------------------------------------------------
// to-trace, gil-stats and merge-trace: the compiled commands, run on the states file

// TODO(lead): in-process once ToTrace/GilStats land
/** Where the compiled stage commands sit: dist/bin, beside this module's dist/record. */
const STAGE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin');

function stageCommand(name: string): string {
  return join(STAGE_DIR, `${name}.js`);
}

/** Fails before any work when a stage command is not built, saying how to go on from the kept recording. */
function requireStages(o: PipelineOptions): void {
  // TODO(lead): in-process once ToTrace/GilStats land (then only merge-trace is left to check)
  for (const name of ['to-trace', 'gil-stats', ...(o.viztracer ? ['merge-trace'] : [])]) {
    const p = stageCommand(name);
    if (!existsSync(p)) {
      throw new RecordError(
        `the ${name} stage is not there (${p} is missing: run npm run build); ${o.perfData} is kept, so once it is: perf-parse -i ${o.perfData} | gil-state | to-trace -o ${o.output}`,
      );
    }
  }
}

/** to-trace STATES -o TRACE. */
async function traceStage(states: string, trace: string): Promise<void> {
  // TODO(lead): in-process once ToTrace/GilStats land
  await node(stageCommand('to-trace'), [states, '-o', trace], 'to-trace');
}

/** gil-stats's table of STATES on our stdout; NAME is what the table calls its input. */
async function statsStage(states: string, name: string): Promise<void> {
  // TODO(lead): in-process once ToTrace/GilStats land
  // The table names its input as given: run where NAME is the file.
  await node(stageCommand('gil-stats'), [name, '--format', 'table'], 'gil-stats', name === states ? undefined : dirname(states));
}

/** merge-trace GIL_TRACE VIZTRACER -o OUTPUT. */
async function mergeStage(gilTrace: string, viztracer: string, output: string): Promise<void> {
  await node(stageCommand('merge-trace'), [gilTrace, viztracer, '-o', output], 'merge-trace');
}

/** A stage command with our stdout and stderr; its own message says why it failed. */
function node(js: string, args: string[], name: string, cwd?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [js, ...args], { stdio: ['ignore', 'inherit', 'inherit'], cwd });
    child.on('error', reject);
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else reject(new RecordError(`${name} failed (${code ?? sig}); see its message above`));
    });
  });
}
