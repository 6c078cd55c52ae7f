// The front of a chain, chosen by what an input holds, so that every stage
// reads every upstream form: a stage that wants records also reads perf
// script text (through perf-parse, in the same process), and one that wants
// spans also reads perf-parse's records and perf script text (through
// gil-state as well). Nothing is serialised between stages chained here.
import { type Context, compose, type Emit, type Filter, type Make } from '../lib/filter.js';
import { DEFAULTS as GIL_STATE_DEFAULTS, GilState, type GilStateOptions } from './gil-state.js';
import { isGilStateType, kindOf } from './input-kind.js';
import { Readers, recordsFrom, type Stage } from './readers.js';
import type { AnyRecord } from './records.js';

export { recordsFrom };

/** The upstream filters a run made (readers, and gil-state), so their notes can be told at the end. */
export class Upstream extends Readers {
  readonly states: GilState[] = [];
  /** The input each state reads, as messages name it. */
  private readonly inputs: string[] = [];

  constructor(
    ctx: Context,
    readonly stateOptions: GilStateOptions = GIL_STATE_DEFAULTS,
  ) {
    super(ctx);
  }

  state(emit: Emit<AnyRecord>): GilState {
    const s = new GilState(emit, this.ctx, this.stateOptions);
    this.states.push(s);
    this.inputs.push(this.ctx.where.file);
    return s;
  }

  /**
   * What perf-parse and gil-state would have said, run on their own. Of many
   * inputs, gil-state's notes name the inputs they are about, and a note that
   * many inputs share is told once: a folder of recordings, cut where a call
   * was open, is one line, not one per file.
   */
  override notes(): string[] {
    if (this.states.length <= 1) return [...super.notes(), ...this.states.flatMap((s) => s.notes())];
    const by = new Map<string, string[]>();
    this.states.forEach((s, i) => {
      for (const note of s.notes()) {
        const files = by.get(note) ?? [];
        if (files.at(-1) !== this.inputs[i]) files.push(this.inputs[i]!);
        by.set(note, files);
      }
    });
    return [...super.notes(), ...[...by].map(([note, [first, ...rest]]) => `${first}: ${note}${rest.length > 0 ? `; the same in ${inputsNamed(rest)}` : ''}`)];
  }
}

/** `b.data`, `b.data and c.data`, or `b.data and 7 more inputs`. */
function inputsNamed(files: string[]): string {
  if (files.length <= 2) return files.join(' and ');
  return `${files[0]} and ${files.length - 1} more inputs`;
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
  private state: GilState | undefined;

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
