// The time a thread's spans of one family have covered so far, to tell a span
// that covers some of it again: a record given twice (`cat a a`, a jq filter's
// output added to its input) or spans mixed up from two streams.
//
// A thread is in one state of a family at a time, so its spans never overlap.
// The scheduler family tiles the thread's life: in the order gil-state writes
// them each span starts where the one before ended, and what is covered is
// one interval, however long the input. Spans given in another order leave
// gaps that later spans fill; gaps are kept as separate intervals, at most
// `cap` of them. Past that the oldest is forgotten, and a span that lies
// wholly before what is remembered cannot be checked: it is taken as given.

export class Coverage {
  private starts: number[] = [];
  private ends: number[] = [];
  /** Everything before this was forgotten (the list was full). */
  private forgottenUpTo = -Infinity;

  constructor(readonly cap = 32) {}

  /** Some of (a, b) is already covered, as far as is remembered. */
  overlaps(a: number, b: number): boolean {
    if (b <= a || b <= this.forgottenUpTo) return false;
    const { starts, ends } = this;
    // Sorted and disjoint: walk back from the latest while they end after a.
    for (let i = ends.length - 1; i >= 0 && ends[i]! > a; i--) {
      if (starts[i]! < b) return true;
    }
    return false;
  }

  /** Adds (a, b), which overlaps nothing covered (check with overlaps first). */
  add(a: number, b: number): void {
    if (b <= a) return;
    const { starts, ends } = this;
    let n = ends.length;
    // The usual case: it starts where the latest ended, or after it.
    if (n > 0 && a === ends[n - 1]) {
      ends[n - 1] = b;
      return;
    }
    let i = n;
    while (i > 0 && starts[i - 1]! > a) i--;
    starts.splice(i, 0, a);
    ends.splice(i, 0, b);
    n++;
    // Merge with the neighbours it touches.
    if (i + 1 < n && ends[i] === starts[i + 1]) {
      ends[i] = ends[i + 1]!;
      starts.splice(i + 1, 1);
      ends.splice(i + 1, 1);
      n--;
    }
    if (i > 0 && ends[i - 1] === starts[i]) {
      ends[i - 1] = ends[i]!;
      starts.splice(i, 1);
      ends.splice(i, 1);
      n--;
    }
    if (n > this.cap) {
      this.forgottenUpTo = ends[0]!;
      starts.shift();
      ends.shift();
    }
  }

  clear(): void {
    this.starts = [];
    this.ends = [];
    this.forgottenUpTo = -Infinity;
  }
}
