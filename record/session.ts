// One recording with our probes: they go in just before perf starts and come
// out whatever happens (perf fails, Ctrl-C, SIGTERM, an error of ours), since
// uprobes outlive the process that made them. perf handles the signals while
// it runs; before and after, a signal removes our probes and ends the run.
import type { Readable } from 'node:stream';
import type { Reporter } from '../lib/cli.js';
import { EXIT_HUNG_UP, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE } from '../lib/errors.js';
import { RecordError } from './errors.js';
import type { Interpreter } from './interpreter.js';
import { type RecordResult, biggerMmap, explainRecordFailure, mmapText, recordArgs, runRecord, underViztracer, viztracerAvailable, withDefaultSignals, withOwnStderr } from './perf-record.js';
import { ProbeGroup, probeEvents, removeStaleGroups } from './probe-group.js';
import { type Keeper, keepProbes } from './probe-keeper.js';
import type { ProbeSpec } from './probes.js';
import { type Watchdog, watchPerf } from './watchdog.js';
import { threadNameHook, withThreadNames } from './thread-names.js';

/** What to record: a command, or a running process for a while. */
export interface Target {
  command: string[];
  pid?: number;
  /** With pid: seconds (else until Ctrl-C or the process exits). */
  durationS?: number;
}

export interface RecordingOptions {
  target: Target;
  interp: Interpreter;
  /** The planned probes (none with --no-probes). */
  specs: ProbeSpec[];
  perfData: string;
  stacks: boolean;
  /** --py-stacks: callchains on the GIL probes too, and these variables in the target's environment (PYTHONPERFSUPPORT...). */
  pyStacks?: { env: Record<string, string> };
  mmapPages?: string;
  quiet: boolean;
  /** Run the program under VizTracer, which writes this file. */
  viztracer?: string;
  /** Given perf's data (perfData '-') as it comes, perf woken for every event (--live). */
  data?: (out: Readable) => void;
  /** Told perf's pid once it runs. */
  onPerf?: (pid: number) => void;
}

export class Recorder {
  private readonly group = new ProbeGroup();
  private keeper: Keeper | undefined;
  private armed = false;

  /** From here on, a signal outside the recording removes our probes (if any) and ends the run as interrupted. */
  constructor(private readonly reporter: Reporter) {
    this.arm();
  }

  async record(o: RecordingOptions): Promise<RecordResult> {
    await removeStaleGroups((m) => this.reporter.say(m));
    process.on('exit', () => this.removeSync());
    let command = o.target.command;
    if (o.viztracer !== undefined) {
      if (!(await viztracerAvailable(o.interp.exe))) {
        throw new RecordError(`--viztracer: VizTracer is not installed for ${o.interp.exe}: ${o.interp.exe} -m pip install viztracer`, EXIT_USAGE);
      }
      command = underViztracer(command, o.viztracer);
    }
    const { pid, durationS } = o.target;
    let watchdog: Watchdog | undefined;
    try {
      // Still armed: a Ctrl-C while the probes go in (or the keeper starts) removes them.
      const specs = await this.group.add(o.specs);
      const events = probeEvents(this.group.name, specs);
      if (specs.length > 0) {
        this.reporter.say(`probes: ${events.join(' ')}`);
        await this.keep();
      }
      // From here perf handles the signals (it ends the recording and writes its data); we clean up after it.
      this.disarm();
      this.reporter.say(
        pid !== undefined ? `recording pid ${pid} ${durationS !== undefined ? `for ${durationS} s` : 'until Ctrl-C'}...` : `recording: ${o.target.command.join(' ')}`,
      );
      const args = recordArgs({
        output: o.perfData,
        probeEvents: events,
        stacks: o.stacks,
        pyStacks: o.pyStacks !== undefined,
        pid,
        durationS,
        mmapPages: o.mmapPages,
        command: withDefaultSignals(withOwnStderr(command)),
        noBuffering: o.data !== undefined,
      });
      return await runRecord(args, {
        quiet: o.quiet,
        env: pid === undefined ? this.targetEnv(o) : undefined,
        data: o.data,
        onStart: (perfPid) => {
          watchdog = watchPerf(perfPid, this.group.added ? this.group.name : undefined, pid !== undefined);
          o.onPerf?.(perfPid);
        },
      });
    } finally {
      // Armed again first: a signal while the probes come out removes them at once and ends the run.
      this.arm();
      await this.keeper?.stop();
      this.keeper = undefined;
      await this.group.remove();
      watchdog?.done();
      const left = await this.group.list();
      if (left.length > 0) this.reporter.say(`WARNING: could not remove probes ${left.join(' ')}: perf probe -d '${this.group.name}:*'`);
    }
  }

  /** The probes kept in every process while we record (record/probe-keeper.ts); without, a warning says what may be lost. */
  private async keep(): Promise<void> {
    try {
      this.keeper = await keepProbes(this.group.name, (starting) => {
        this.keeper = starting;
      });
    } catch (e) {
      this.keeper = undefined; // killed by keepProbes
      this.reporter.say(
        `WARNING: could not keep the probes system-wide (${(e as Error).message}): in a program that starts processes, some may lose their GIL events`,
      );
    }
  }

  private removeSync(): void {
    this.keeper?.stopSync();
    this.keeper = undefined;
    this.group.removeSync();
  }

  /** The program's environment: Python thread names (the start-up hook) and --py-stacks' variables. */
  private targetEnv(o: RecordingOptions): NodeJS.ProcessEnv {
    const hook = threadNameHook();
    if (hook === undefined) this.reporter.say('the thread-name hook (record/python/sitecustomize.py) is missing from this install: threads keep the name python');
    const env = hook !== undefined ? withThreadNames(process.env, hook) : { ...process.env };
    return { ...env, ...(o.pyStacks?.env ?? {}) };
  }

  private readonly onSignal = (sig: NodeJS.Signals): void => {
    if (!this.armed) return; // runRecord's handlers have it: perf ends the recording
    const had = this.group.added;
    this.removeSync();
    this.reporter.say(`${sig === 'SIGINT' ? 'interrupted' : sig === 'SIGHUP' ? 'hung up' : 'terminated'}${had ? ': probes removed' : ''}`);
    process.exit(sig === 'SIGINT' ? EXIT_INTERRUPTED : sig === 'SIGHUP' ? EXIT_HUNG_UP : EXIT_TERMINATED);
  };

  // The listeners stay on from the constructor to the process's end, and
  // arming only says whether they act: with no listener for a moment, Node
  // gives the signal back its default action, and a SIGTERM landing between
  // ours and runRecord's killed gil-record with its probes still in.
  private listening = false;

  private arm(): void {
    if (!this.listening) {
      process.on('SIGINT', this.onSignal);
      process.on('SIGTERM', this.onSignal);
      process.on('SIGHUP', this.onSignal);
      this.listening = true;
    }
    this.armed = true;
  }

  private disarm(): void {
    this.armed = false;
  }
}

/**
 * What the recording means for the run, said to the user: the exit status to
 * end with (the command's own, as a shell passes it on), or a RecordError when
 * perf wrote nothing.
 */
export function recordingStatus(rec: RecordResult, target: Target, reporter: Reporter, mmap: string): number {
  if (rec.aborted) {
    const how = rec.signal === 'SIGTERM' ? 'terminated' : rec.signal === 'SIGHUP' ? 'hung up (the terminal closed?)' : 'interrupted twice';
    reporter.say(`${how}: probes removed, no trace made${rec.wrote ? ', the recording kept' : ''}`);
    return rec.signal === 'SIGTERM' ? EXIT_TERMINATED : rec.signal === 'SIGHUP' ? EXIT_HUNG_UP : EXIT_INTERRUPTED;
  }
  if (!rec.wrote) throw new RecordError(explainRecordFailure(rec.stderr));
  if (rec.lostWarning) reporter.say(`perf lost events while recording (${rec.lostWarning}); the buffer was ${mmapText(mmap)} per CPU: -m ${biggerMmap(mmap)} loses fewer`);
  const attached = target.pid !== undefined;
  if (rec.signal !== undefined) {
    reporter.say(`stopped by ${rec.signal}: processing what was recorded`);
    // Ctrl-C is how an attached recording normally ends; a command that was
    // interrupted ends as interrupted commands do, after the pipeline.
    return attached ? EXIT_OK : EXIT_INTERRUPTED;
  }
  if (attached) return EXIT_OK;
  if (rec.exitCode !== EXIT_OK) reporter.say(`${target.command[0]} exited with status ${rec.exitCode} (gil-record passes it on)`);
  return rec.exitCode;
}
