// What was made for a pair of keys, kept to be given again: the perf.data
// reader's payloads (by the two pids of a switch, a probe's addresses) and
// the records NDJSON lines are copied from (filters/record-lines.ts: by the
// text before a line's times and the text after them). Bounded: past MAX
// pairs it is emptied and fills again, so input whose pairs never repeat
// keeps a few thousand at most. Keys kept must be values of their own: a
// slice of a line would keep its whole chunk alive (lib/lines.ts' `own`).

export class PairMemo<K1, K2, V> {
  private readonly map = new Map<K1, Map<K2, V>>();
  private size = 0;

  get(k1: K1, k2: K2): V | undefined {
    return this.map.get(k1)?.get(k2);
  }

  /** Keeps `v` for the pair (in place of what it had), and gives it back. */
  set(k1: K1, k2: K2, v: V): V {
    if (this.size >= MAX) {
      this.map.clear();
      this.size = 0;
    }
    let inner = this.map.get(k1);
    if (inner === undefined) this.map.set(k1, (inner = new Map()));
    if (!inner.has(k2)) this.size++;
    inner.set(k2, v);
    return v;
  }

  /** Pairs kept. */
  get count(): number {
    return this.size;
  }
}

const MAX = 4096;
