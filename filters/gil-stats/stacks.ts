// The native stacks of GIL hogs: what the holder was doing while it held.
//
// gil-state passes samples with callchains through (CPU samples recorded
// beside the probes). Per thread, the samples since its last GIL span closed
// are kept (its next hold starts after that), thinned to every 2nd, 4th, ...
// sample as they pile up, so that a bounded few spread over a hold of any
// length.
import type { Frame } from '../records.js';

const STACK_FRAMES = 32;
const STACK_RING = 64;

interface Ring {
  seen: number;
  stride: number;
  kept: Array<{ ts: number; chain: Frame[] }>;
}

export class HogStacks {
  private readonly rings = new Map<number, Ring>();

  /** A sample of `tid` at `ts`; by tid alone, since samples printed without pid still belong to the thread gil-state placed in a process. */
  sample(tid: number, ts: number, callchain: Frame[]): void {
    if (callchain.length === 0) return;
    let ring = this.rings.get(tid);
    if (!ring) {
      ring = { seen: 0, stride: 1, kept: [] };
      this.rings.set(tid, ring);
    }
    if (ring.seen++ % ring.stride !== 0) return;
    ring.kept.push({ ts, chain: callchain.slice(0, STACK_FRAMES) });
    if (ring.kept.length >= STACK_RING) {
      ring.kept = ring.kept.filter((_, i) => i % 2 === 0);
      ring.stride *= 2;
    }
  }

  /**
   * The holder's stack during [a, b]: of its kept samples there, one whose
   * leaf function is the most common (where a hog spends its time), the one
   * nearest the middle among those.
   */
  during(tid: number, a: number, b: number): string[] | undefined {
    const inHold = (this.rings.get(tid)?.kept ?? []).filter((s) => s.ts >= a && s.ts <= b);
    if (inHold.length === 0) return undefined;
    const leaf = (s: { chain: Frame[] }): string => frameText(s.chain[0]!).replace(/\+0x[0-9a-f]+/, '');
    const votes = new Map<string, number>();
    for (const s of inHold) votes.set(leaf(s), (votes.get(leaf(s)) ?? 0) + 1);
    const top = Math.max(...votes.values());
    const mid = (a + b) / 2;
    let best: { ts: number; chain: Frame[] } | undefined;
    for (const s of inHold) {
      if (votes.get(leaf(s)) !== top) continue;
      if (!best || Math.abs(s.ts - mid) < Math.abs(best.ts - mid)) best = s;
    }
    return best!.chain.map(frameText);
  }

  /** A GIL span of `tid` closed: its samples so far cannot fall in a later hold. */
  forget(tid: number): void {
    if (this.rings.has(tid)) this.rings.set(tid, { seen: 0, stride: 1, kept: [] });
  }

  /** A capture ended: its samples belong to no later hold. */
  clear(): void {
    this.rings.clear();
  }
}

/** A frame as a stack line: `sym+0xoff (dso)`, the address where there is no symbol. */
export function frameText(f: Frame): string {
  const sym = f.sym ?? `[${f.addr ?? 'unknown'}]`;
  const off = f.off !== undefined ? `+0x${f.off.toString(16)}` : '';
  return f.dso ? `${sym}${off} (${f.dso})` : `${sym}${off}`;
}
