// gil-record --live: perf record writes its data to a pipe (-o -, woken for
// every event) that the perf.data reader (lib/perf-data/) reads as it comes,
// in this process, into gil-state and, side by side, the live intervals and
// gil-stats. With --stacks (DWARF, which perf unwinds) perf script reads the
// pipe instead (-i -), and its text goes through perf-parse. Each closed interval is a `live` record on
// stdout (NDJSON), or on a terminal a screen redrawn in place; when the
// recording ends (Ctrl-C, SIGTERM, --duration, the process exits) the last
// interval is written and the whole-run gil-stats table goes to stderr, so
// stdout stays one record per line. No perf.data and no trace are kept.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { BadInput, Reporter } from '../lib/cli.js';
import { EXIT_HUNG_UP, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE } from '../lib/errors.js';
import { type Emit, type Filter, connect, tee } from '../lib/filter.js';
import { LineSplitter, PERF_TEXT } from '../lib/lines.js';
import { PerfDataDecoder } from '../lib/perf-data/decoder.js';
import type { AnyRecord } from '../filters/records.js';
import { PERF_SCRIPT_ARGS } from '../lib/perf.js';
import { Screen } from '../lib/screen.js';
import { PerfParser } from '../filters/perf-parse.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState } from '../filters/gil-state.js';
import { DEFAULTS as STATS_DEFAULTS, GilStats, type GilStatsJSON } from '../filters/gil-stats.js';
import { FORMATTERS, notes as statsNotes } from '../filters/gil-stats/format.js';
import { DEFAULTS as LIVE_DEFAULTS, LiveIntervals, type LiveRecord, liveScreen } from '../filters/live.js';
import { RecordError } from './errors.js';
import { runs } from './proc.js';
import { explainRecordFailure } from './perf-record.js';
import type { Recorder, RecordingOptions } from './session.js';

export interface LiveRun {
  everyNs: number;
  /** Draw a screen (stdout is a terminal) rather than write NDJSON. */
  screen: boolean;
  say: Reporter;
}

/** The shortest --every: perf's data reaches gil-record up to 0.3 s late (--no-buffering), a tenth of a second is already most of that. */
export const MIN_EVERY_NS = 100_000_000;

/** --every goes with --live, at least MIN_EVERY_NS; --live cannot go with what keeps perf.data or makes a trace. */
export function checkLive(argv: { live: boolean; every?: number; 'record-only': boolean; viztracer: boolean; states?: string; 'py-stacks': boolean }): void {
  if (!argv.live) throw new RecordError('--every goes with --live', EXIT_USAGE);
  if (argv.every !== undefined && !(argv.every >= MIN_EVERY_NS)) throw new RecordError(`--every wants at least 100ms, not ${argv.every / 1e6} ms`, EXIT_USAGE);
  // --py-stacks needs perf inject --jit over a finished perf.data.
  const clash = argv['record-only'] ? '--record-only' : argv.viztracer ? '--viztracer' : argv.states !== undefined ? '--states' : argv['py-stacks'] ? '--py-stacks' : undefined;
  if (clash) throw new RecordError(`--live keeps no perf.data and writes no trace: it cannot go with ${clash}`, EXIT_USAGE);
}

/**
 * A launched program would inherit perf record's stdout, which with -o - is
 * the data pipe: its output would corrupt the recording. Its stdout goes to
 * stderr instead (where perf and its stderr already go), and gil-record's own
 * stdout stays the live records.
 */
export function stdoutToStderr(command: string[]): string[] {
  return command.length === 0 ? command : ['sh', '-c', 'exec "$@" >&2', 'gil-record', ...command];
}

/** CLOCK_MONOTONIC now, in ns: perf records with -k CLOCK_MONOTONIC, and Node's hrtime is that clock. */
export function monotonicNs(): number {
  return Number(process.hrtime.bigint());
}

/** Records live until the end of the recording; returns the exit status. */
export async function recordLive(recorder: Recorder, o: Omit<RecordingOptions, 'perfData' | 'data'>, run: LiveRun): Promise<number> {
  // DWARF stacks are perf's to unwind: only then does perf script read the pipe.
  const script = o.stacks ? perfScriptFromPipe() : undefined;
  const bad = new BadInput(new Reporter('perf-parse'), false);
  let state!: GilState;
  let reader!: { notes(): string[] };
  let summary: GilStatsJSON | undefined;
  const screen = run.screen ? new Screen(process.stdout) : undefined;
  const what = o.target.pid !== undefined ? `pid ${o.target.pid}` : o.target.command.join(' ');
  const header = `gil-record --live: ${what}, every ${run.everyNs / 1e9} s (Ctrl-C: stop, then the whole-run table)`;
  // A reader that goes away (`| head -3`) ends the recording as Ctrl-C does.
  let readerGone = false;
  const onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (readerGone) return;
    readerGone = true;
    run.say.say(`stdout: ${e.code === 'EPIPE' ? 'the reader went away' : e.message}: stopping`);
    process.kill(process.pid, 'SIGINT');
  };
  process.stdout.on('error', onStdoutError);
  const show = (rec: LiveRecord): void => {
    if (readerGone) return;
    if (screen) screen.draw(liveScreen(rec, header));
    else process.stdout.write(JSON.stringify(rec) + '\n');
  };
  const live = new LiveIntervals(
    show,
    bad,
    { openGil: () => state.openGil(), get latestTs() { return state.latestTs; }, threadName: (tid) => state.threadName(tid) },
    { ...LIVE_DEFAULTS, everyNs: run.everyNs },
  );
  const gilStats = new GilStats((s) => (summary = s), bad, STATS_DEFAULTS);
  const spans = connect((emit: Emit<AnyRecord>) => (state = new GilState(emit, bad, GIL_STATE_DEFAULTS)), tee([live, gilStats]));
  const head: Filter<Buffer> =
    script !== undefined
      ? connect((emit) => new LineSplitter(emit, bad, PERF_TEXT), connect((emit) => (reader = new PerfParser(emit, bad)), spans))
      : connect((emit) => (reader = new PerfDataDecoder(emit, bad)), spans);
  let failure: unknown;
  let lastData = monotonicNs();
  const feed = (chunk: Buffer): void => {
    lastData = monotonicNs();
    if (failure !== undefined) return;
    try {
      head.write(chunk);
    } catch (e) {
      failure = e;
    }
  };
  let ended: Promise<unknown>;
  // Whether perf's stdout reached perf script: when perf never started (a probe failed), its stdin is ended here, or it would wait for ever.
  let piped = false;
  let data: (out: Readable) => void;
  if (script !== undefined) {
    script.child.stdout!.on('data', feed);
    ended = once(script.child, 'close');
    data = (out) => {
      piped = true;
      out.pipe(script.child.stdin!);
    };
  } else {
    let out: Readable | undefined;
    let gotOut: () => void = () => undefined;
    const started = new Promise<void>((res) => (gotOut = res));
    data = (o) => {
      out = o;
      o.on('data', feed);
      gotOut();
    };
    // perf's stdout ends when perf does (or never came, when it did not start).
    ended = started.then(() => once(out!, 'close'));
  }
  // Only when perf has been quiet: while its data comes, the data's own time
  // closes intervals, and a tick would close one before late data reached it.
  // Only while perf records: once it stops (a signal, --duration, the program
  // ended) its data is all there is, and a tick would make intervals past its
  // end. Ticks finer than the interval, so an idle interval closes soon after its end.
  let perfPid: number | undefined;
  let stopped = false;
  const stop = (): void => {
    stopped = true;
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const ticker = setInterval(() => {
    if (stopped || perfPid === undefined) return;
    // perf is reaped only when execa sees it exit: a zombie counts as gone.
    if (!runs(perfPid)) return stop();
    const now = monotonicNs();
    if (now - lastData > LIVE_DEFAULTS.marginNs) live.tick(now);
  }, Math.min(100, run.everyNs / 1e6 / 4));
  let rec;
  try {
    const target = { ...o.target, command: stdoutToStderr(o.target.command) };
    rec = await recorder.record({ ...o, target, perfData: '-', data, onPerf: (pid) => {
        perfPid = pid;
        // So that an idle program, with no events, still gets an interval a second.
        live.start(monotonicNs());
      },
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    // perf record is gone: what is left is in the pipe, and the end closes the last interval.
    clearInterval(ticker);
    if (script !== undefined && !piped) script.child.stdin!.end();
  }
  await ended;
  if (failure !== undefined) throw failure;
  head.end();
  bad.summarise();
  if (bad.brokenInput !== undefined) run.say.say(`perf's data: ${bad.brokenInput.replace(/^stdin: /, '')}`);
  for (const note of reader.notes()) new Reporter('perf-parse').say(note);
  for (const note of state.notes()) new Reporter('gil-state').say(note);
  if (script?.stderr().trim()) run.say.say(`perf script said: ${script.stderr().trim().replace(/\n+/g, ' ')}`);
  if (live.unseenNs > 0) run.say.say(`${(live.unseenNs / 1e9).toFixed(3)} s of GIL waits and holds were going on when perf attached and seen only when they ended: counted in the table, in no interval`);
  if (live.lateNs > 0) run.say.say(`${(live.lateNs / 1e9).toFixed(3)} s of GIL time reached gil-record after its interval was written: counted in the table, in no interval`);
  // perf says this even writing to a pipe; without it perf failed, whatever the exit code.
  const recorded = /perf record: Captured and wrote/.test(rec.stderr);
  if (!recorded && rec.signal === undefined) throw new RecordError(explainRecordFailure(rec.stderr));
  if (summary) {
    process.stderr.write(FORMATTERS.table(summary, { per4m: false, top: STATS_DEFAULTS.top, table: 'threads' }));
    for (const note of statsNotes(summary, 'table')) new Reporter('gil-stats').say(note);
  }
  if (rec.signal === 'SIGTERM') return EXIT_TERMINATED;
  if (rec.signal === 'SIGHUP') return EXIT_HUNG_UP;
  if (rec.signal === 'SIGINT' || rec.aborted) return EXIT_INTERRUPTED;
  if (o.target.pid === undefined && rec.exitCode !== EXIT_OK) run.say.say(`${o.target.command[0]} exited with status ${rec.exitCode} (gil-record passes it on)`);
  // Attached, the exit status is ours; launched, the program's, as a shell passes it on.
  return o.target.pid !== undefined ? EXIT_OK : rec.exitCode;
}

/**
 * perf script reading perf record's pipe. In a process group of its own: a
 * Ctrl-C at the terminal stops perf record, which then flushes what it has;
 * perf script must read on until that pipe ends, not stop with it.
 */
function perfScriptFromPipe(): { child: ChildProcess; stderr(): string } {
  const args = PERF_SCRIPT_ARGS.map((a) => (a === '+pid' ? '+pid,+ip,+sym,+dso' : a));
  const child = spawn('perf', ['script', '-i', '-', ...args], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let tail = '';
  child.stderr!.on('data', (b: Buffer) => (tail = (tail + b.toString('utf8')).slice(-8192)));
  child.on('error', () => undefined);
  child.stdin!.on('error', () => undefined);
  return { child, stderr: () => tail };
}
