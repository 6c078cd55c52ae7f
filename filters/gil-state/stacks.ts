// What a holder was doing while it held the GIL, from its own events.
//
// Every event of the holding thread that has a callchain (a switch-out when
// it is preempted or blocks, a wakeup it sends) shows where it is. The
// stacks are counted by the function they are in, the innermost Python
// function where there is one (`py::parse_all`), else the native leaf
// (libc's helpers left out: a memmove is not where a regex spends its time);
// the hold's `sampled_stack` is the most common stack of the most common
// function. Memory is bounded per thread: at most KEYS functions per hold,
// KEYS stacks each.
import { isLibc, stackOf } from '../frames.js';
import type { Frame } from '../records.js';

const KEYS = 64;

export class HoldStacks {
  samples = 0;
  /** Per function, its stacks (the same function, different callees) and their counts. */
  private readonly byKey = new Map<string, { n: number; stacks: Map<string, { n: number; stack: string[] }> }>();

  add(chain: readonly Frame[]): void {
    // The kernel's frames of an on-CPU event are the interrupt that caught it, not its code.
    const stack = stackOf(chain, true);
    if (stack === undefined) return;
    this.samples++;
    const key = stack.find((s) => s.startsWith('py::')) ?? stack.find((s) => !isLibc(s)) ?? stack[0]!;
    let k = this.byKey.get(key);
    if (!k) {
      if (this.byKey.size >= KEYS) return;
      k = { n: 0, stacks: new Map() };
      this.byKey.set(key, k);
    }
    k.n++;
    const text = stack.join('\n');
    const v = k.stacks.get(text);
    if (v) v.n++;
    else if (k.stacks.size < KEYS) k.stacks.set(text, { n: 1, stack });
  }

  /** The most common stack of the most common function (ties: the first seen). */
  top(): string[] | undefined {
    let best: { n: number; stacks: Map<string, { n: number; stack: string[] }> } | undefined;
    for (const v of this.byKey.values()) if (!best || v.n > best.n) best = v;
    let out: { n: number; stack: string[] } | undefined;
    for (const v of best?.stacks.values() ?? []) if (!out || v.n > out.n) out = v;
    return out?.stack;
  }
}
