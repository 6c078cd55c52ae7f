// A bounded buffer of recently closed intervals, for "what overlapped this?"
// questions asked of a stream of spans that arrive when they close.
//
// The stream this serves writes each span when it ends, so spans arrive
// (nearly) in order of their end. For any two overlapping spans, the one that
// ends later arrives later; if every span, on arrival, is compared with the
// kept spans it overlaps, every overlapping pair is seen exactly once, by
// whichever of the two came second. What must be kept is therefore only the
// spans that a span still to come could overlap: those ending after the
// start of the longest span still open. That is unknowable in general (a
// thread may wait for a minute), so the buffer keeps a window of time
// (`horizon`) and at most `cap` spans, and remembers how far it has forgotten
// (`trimmedUpTo`): a later span reaching back before that point knows which
// part of it could not be paired and says so, rather than pretending the past
// was empty.

export interface Interval {
  start: number;
  end: number;
}

export class RecentIntervals<T extends Interval> {
  private items: T[] = [];
  private head = 0;
  /** End of the latest interval dropped from the buffer. */
  trimmedUpTo = -Infinity;
  private latestEnd = -Infinity;

  constructor(
    readonly cap = 50_000,
    readonly horizon = 60e9,
  ) {}

  get size(): number {
    return this.items.length - this.head;
  }

  /** Calls `fn` for every kept interval that overlaps (a, b) by more than zero. */
  forOverlapping(a: number, b: number, fn: (x: T) => void): void {
    const items = this.items;
    // Sorted by end: the intervals ending after `a` are a suffix.
    let lo = this.head;
    let hi = items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (items[mid]!.end <= a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < items.length; i++) {
      const x = items[i]!;
      if (x.start < b) fn(x);
    }
  }

  /** The part of (a, b) older than what the buffer still remembers. */
  forgotten(a: number, b: number): number {
    return Math.max(0, Math.min(b, this.trimmedUpTo) - a);
  }

  add(x: T): void {
    const items = this.items;
    // Arrivals are nearly sorted by end: walk back from the tail.
    let i = items.length;
    while (i > this.head && items[i - 1]!.end > x.end) i--;
    if (i === items.length) items.push(x);
    else items.splice(i, 0, x);
    if (x.end > this.latestEnd) this.latestEnd = x.end;
    this.trim();
  }

  /**
   * Drops intervals ending at or before `t`, for a caller who knows no later
   * interval can start before `t` (nothing is forgotten that could be asked for).
   */
  dropEndingBy(t: number): void {
    const items = this.items;
    while (this.head < items.length && items[this.head]!.end <= t) this.head++;
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.items = [];
    this.head = 0;
    this.trimmedUpTo = -Infinity;
    this.latestEnd = -Infinity;
  }

  private trim(): void {
    const items = this.items;
    const oldest = this.latestEnd - this.horizon;
    while (this.head < items.length && (items.length - this.head > this.cap || items[this.head]!.end < oldest)) {
      const end = items[this.head]!.end;
      if (end > this.trimmedUpTo) this.trimmedUpTo = end;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
  }
}
