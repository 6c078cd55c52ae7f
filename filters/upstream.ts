// The front of a chain, chosen by what an input holds, so that every stage
// reads every upstream form: a stage that wants records also reads perf
// script text (through perf-parse, in the same process), and one that wants
// spans also reads perf-parse's records and perf script text (through
// gil-state as well). Nothing is serialised between stages chained here.
import { type Context, compose, type Emit, type Filter, type Make } from '../lib/filter.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState, type GilStateOptions } from './gil-state.js';
import { CaptureIds } from './captures.js';
import { isGilStateType, kindOf } from './input-kind.js';
import { type Ended, Readers, recordsFrom, type Stage, told } from './readers.js';
import type { AnyRecord } from './records.js';

export { recordsFrom };

/** The upstream filters a run made (readers, and gil-state), so their notes can be told at the end. */
export class Upstream extends Readers {
  private readonly states = new Set<GilState>();
  private readonly endedStates: Ended[] = [];

  constructor(
    ctx: Context,
    readonly stateOptions: GilStateOptions = GIL_STATE_DEFAULTS,
  ) {
    super(ctx);
  }

  /** The captures of the states so far: the same one in two inputs is refused, as gil-stats and to-trace refuse it. */
  private readonly captures = new CaptureIds();

  /**
   * A GilState for one input, made at its first record: an input none of
   * whose lines could be read is no capture (its own error says so), not an
   * empty one beside the others. Its output waits until its first events
   * fixed the capture's id: a capture given twice (two names for one
   * recording) is refused before anything of its second copy is written,
   * since every span of it would count twice.
   */
  state(emit: Emit<AnyRecord>): Filter<AnyRecord> {
    let s: GilState | undefined;
    let held: AnyRecord[] | undefined = [];
    const input = this.ctx.where.file;
    const made = (): GilState => {
      s = new GilState((rec) => (held === undefined ? emit(rec) : held.push(rec)), this.ctx, this.stateOptions);
      this.states.add(s);
      return s;
    };
    const settle = (id: string | undefined): void => {
      this.captures.add(id, this.ctx.where);
      const out = held!;
      held = undefined;
      for (const rec of out) emit(rec);
    };
    return {
      write: (rec) => {
        const state = s ?? made();
        state.write(rec);
        if (held !== undefined && state.settledId !== undefined) settle(state.settledId);
      },
      end: () => {
        if (s === undefined) return;
        s.end();
        if (held !== undefined) settle(s.captureId);
        this.states.delete(s);
        this.endedStates.push({ input, notes: s.notes() });
      },
    };
  }

  /** What perf-parse and gil-state would have said, run on their own. */
  override notes(): string[] {
    return [...super.notes(), ...told([...this.endedStates, ...[...this.states].map((s) => ({ input: this.ctx.where.file, notes: s.notes() }))])];
  }
}

/** A chooser for FirstLine: the chain that turns an input into gil-state's records, running gil-state when the input is not its output. */
export function spansFrom(stage: Stage, ctx: Context, up: Upstream) {
  const records = recordsFrom(stage, ctx, up);
  return (line: string, head: Buffer): Make<Buffer, AnyRecord> => {
    const kind = kindOf(line, head);
    if (kind === 'perf script text' || kind === 'perf.data') return compose(records(line, head), (emit) => up.state(emit));
    return compose(records(line, head), (emit) => new SpansOrEvents(emit, up));
  };
}

/** How many records may pass before one says whether the input is gil-state's output or the events it reads. */
const UNDECIDED_MAX = 10_000;

/**
 * NDJSON records that are either gil-state's output (passed on) or the
 * events it reads (run through a GilState first). A record of gil-state's
 * own types decides: its output. Events alone do not, since gil-state
 * --keep-samples writes the samples it read before the spans they close; so
 * records wait, in order, until one of gil-state's appears, or until so many
 * came without one (or the input ended) that they are events.
 */
export class SpansOrEvents implements Filter<AnyRecord> {
  private mode: 'undecided' | 'spans' | 'events' = 'undecided';
  private held: AnyRecord[] = [];
  private state: Filter<AnyRecord> | undefined;

  constructor(
    private readonly emit: Emit<AnyRecord>,
    private readonly up: Upstream,
  ) {}

  write(rec: AnyRecord): void {
    if (this.mode === 'spans') return this.emit(rec);
    if (this.mode === 'events') return this.state!.write(rec);
    if (isGilStateType(rec.type)) this.decide('spans');
    else if (this.held.length >= UNDECIDED_MAX) this.decide(this.held.some(readByGilState) ? 'events' : 'spans');
    if (this.mode === 'undecided') this.held.push(rec);
    else this.write(rec);
  }

  end(): void {
    if (this.mode === 'undecided') this.decide(this.held.some(readByGilState) ? 'events' : 'spans');
    this.state?.end();
  }

  private decide(mode: 'spans' | 'events'): void {
    this.mode = mode;
    if (mode === 'events') this.state = this.up.state(this.emit);
    const held = this.held;
    this.held = [];
    for (const r of held) this.write(r);
  }
}

/** Records gil-state consumes: scheduler tracepoints, probes, task and lost records, switch-ins. */
function readByGilState(rec: AnyRecord): boolean {
  switch (rec.type) {
    case 'sample':
      return rec.probe !== undefined || rec.event.startsWith('sched:');
    case 'comm':
    case 'fork':
    case 'exit':
    case 'lost':
      return true;
    case 'perf_record':
      return rec.name === 'SWITCH';
    default:
      return false;
  }
}
