// Causal flame graphs: folded stacks (Brendan Gregg's collapsed format, one
// `frame;frame;frame weight` line per stack) whose weight is what a stack
// cost others, not its own time.
//
// - blame: a holder's stack, weighted by the time other threads waited for
//   the GIL while it held it there (the wait it caused);
// - wait: a waiter's stack at take_gil, weighted by its wait;
// - offcpu: a holder's stack while it held the GIL off a CPU (runnable,
//   asleep, blocked), weighted by that time.
//
// The root frame is the thread's name (a pool's threads share one: the
// graph is about code, not threads). Memory is one number per distinct
// stack, at most MAX_STACKS of them a weight; the rest go to one line.
import { forFolded } from '../../lib/escape.js';
import type { FoldedJSON } from './summary.js';

export type Weight = keyof FoldedJSON;
export const WEIGHTS: readonly Weight[] = ['blame', 'wait', 'offcpu'];

const MAX_STACKS = 100_000;
const SEP = '\u0000';
/** A span recorded without a stack still weighs: under its thread, as this frame. */
export const NO_STACK = '[no stack recorded]';

export class Folded {
  private readonly by: Record<Weight, Map<string, { tid: number; ns: number }>> = { blame: new Map(), wait: new Map(), offcpu: new Map() };

  /** `stack` leaf first, as spans carry it. */
  add(weight: Weight, tid: number, stack: readonly string[] | undefined, ns: number, leaf?: string): void {
    if (!(ns > 0)) return;
    const frames = stack === undefined || stack.length === 0 ? [NO_STACK] : [...stack].reverse();
    if (leaf !== undefined) frames.push(leaf);
    const m = this.by[weight];
    let key = `${tid}${SEP}${frames.join(SEP)}`;
    if (!m.has(key) && m.size >= MAX_STACKS) key = `${tid}${SEP}[other stacks]`;
    const e = m.get(key);
    if (e) e.ns += ns;
    else m.set(key, { tid, ns });
  }

  /** The lines, each stack under its thread's name; equal lines (threads of one name) added up. */
  toJSON(name: (tid: number) => string): FoldedJSON {
    const out = {} as FoldedJSON;
    for (const w of WEIGHTS) {
      const lines = new Map<string, { stack: string[]; ns: number }>();
      for (const [key, e] of this.by[w]) {
        const stack = [name(e.tid), ...key.split(SEP).slice(1)];
        const k = stack.join(SEP);
        const seen = lines.get(k);
        if (seen) seen.ns += e.ns;
        else lines.set(k, { stack, ns: e.ns });
      }
      out[w] = [...lines.values()].sort((a, b) => b.ns - a.ns);
    }
    return out;
  }
}

/**
 * One weight as folded text: frames joined by `;`, the weight in µs; each
 * frame escaped for the format (lib/escape.ts: thread names come from the input).
 */
export function foldedText(f: FoldedJSON, weight: Weight): string {
  let out = '';
  for (const l of f[weight]) {
    const us = Math.round(l.ns / 1000);
    if (us > 0) out += `${l.stack.map(forFolded).join(';')} ${us}\n`;
  }
  return out;
}
