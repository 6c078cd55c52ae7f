// What a holder was doing while it held the GIL, from its own events.
//
// Every event of the holding thread that has a callchain (a switch-out when
// it is preempted or blocks, a wakeup it sends) shows where it is. The
// stacks are counted by the function they are in, the innermost Python
// function where there is one (`py::parse_all`), else the native leaf
// (libc's helpers left out: a memmove is not where a regex spends its time);
// the hold's `sampled_stack` is the most common one. Memory is bounded per
// thread: at most KEYS functions per hold.
import { isLibc, stackOf } from '../frames.js';
import type { Frame } from '../records.js';

const KEYS = 64;

export class HoldStacks {
  samples = 0;
  private readonly byKey = new Map<string, { n: number; stack: string[] }>();

  add(chain: readonly Frame[]): void {
    // The kernel's frames of an on-CPU event are the interrupt that caught it, not its code.
    const stack = stackOf(chain, true);
    if (stack === undefined) return;
    this.samples++;
    const key = stack.find((s) => s.startsWith('py::')) ?? stack.find((s) => !isLibc(s)) ?? stack[0]!;
    const seen = this.byKey.get(key);
    if (seen) seen.n++;
    else if (this.byKey.size < KEYS) this.byKey.set(key, { n: 1, stack });
  }

  /** The most common stack (the first seen of the most common function). */
  top(): string[] | undefined {
    let best: { n: number; stack: string[] } | undefined;
    for (const v of this.byKey.values()) if (!best || v.n > best.n) best = v;
    return best?.stack;
  }
}
