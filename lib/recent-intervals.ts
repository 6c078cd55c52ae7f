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
//
// The times are kept in Float64Arrays beside the payloads, not in them: a
// nanosecond time is beyond a small integer, so in an object each is a boxed
// number of its own. With 100,000 spans kept on a long input that was 19 MB of
// live heap (and about 40 MB of RSS) in gil-stats; the payloads left are a
// few small fields.

export class RecentIntervals<T> {
  private starts = new Float64Array(64);
  private ends = new Float64Array(64);
  private items: Array<T | undefined> = new Array<T | undefined>(64);
  /** The kept intervals are [head, tail), sorted by end. */
  private head = 0;
  private tail = 0;
  /** End of the latest interval dropped from the buffer. */
  trimmedUpTo = -Infinity;
  private latestEnd = -Infinity;

  constructor(
    readonly cap = 50_000,
    readonly horizon = 60e9,
  ) {}

  get size(): number {
    return this.tail - this.head;
  }

  /** Calls `fn` for every kept interval that overlaps (a, b) by more than zero. */
  forOverlapping(a: number, b: number, fn: (x: T, start: number, end: number) => void): void {
    const { starts, ends, items } = this;
    // Sorted by end: the intervals ending after `a` are a suffix.
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! <= a) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.tail; i++) {
      if (starts[i]! < b) fn(items[i]!, starts[i]!, ends[i]!);
    }
  }

  /** Whether a kept interval that overlaps (a, b) by more than zero passes `pred`. */
  some(a: number, b: number, pred: (x: T) => boolean): boolean {
    const { starts, ends, items } = this;
    // From the latest end back: the intervals ending after `a` are a suffix.
    for (let i = this.tail - 1; i >= this.head && ends[i]! > a; i--) {
      if (starts[i]! < b && pred(items[i]!)) return true;
    }
    return false;
  }

  /** The part of (a, b) older than what the buffer still remembers. */
  forgotten(a: number, b: number): number {
    return Math.max(0, Math.min(b, this.trimmedUpTo) - a);
  }

  add(start: number, end: number, x: T): void {
    if (this.tail === this.ends.length) this.makeRoom();
    const { starts, ends, items } = this;
    // Arrivals are nearly sorted by end: walk back from the tail.
    let i = this.tail;
    while (i > this.head && ends[i - 1]! > end) i--;
    if (i < this.tail) {
      starts.copyWithin(i + 1, i, this.tail);
      ends.copyWithin(i + 1, i, this.tail);
      items.copyWithin(i + 1, i, this.tail);
    }
    starts[i] = start;
    ends[i] = end;
    items[i] = x;
    this.tail++;
    if (end > this.latestEnd) this.latestEnd = end;
    this.trim();
  }

  /**
   * Drops intervals ending at or before `t`, for a caller who knows no later
   * interval can start before `t` (nothing is forgotten that could be asked for).
   */
  dropEndingBy(t: number): void {
    while (this.head < this.tail && this.ends[this.head]! <= t) this.items[this.head++] = undefined;
  }

  clear(): void {
    this.items.fill(undefined, this.head, this.tail);
    this.head = 0;
    this.tail = 0;
    this.trimmedUpTo = -Infinity;
    this.latestEnd = -Infinity;
  }

  private trim(): void {
    const oldest = this.latestEnd - this.horizon;
    while (this.head < this.tail && (this.tail - this.head > this.cap || this.ends[this.head]! < oldest)) {
      const end = this.ends[this.head]!;
      if (end > this.trimmedUpTo) this.trimmedUpTo = end;
      this.items[this.head++] = undefined;
    }
  }

  /** The arrays are full at the tail: move the kept intervals to the front, or double the arrays when more than half are kept. */
  private makeRoom(): void {
    const n = this.tail - this.head;
    const cap = this.ends.length;
    if (n * 2 > cap) {
      const starts = new Float64Array(cap * 2);
      const ends = new Float64Array(cap * 2);
      starts.set(this.starts.subarray(this.head, this.tail));
      ends.set(this.ends.subarray(this.head, this.tail));
      const items = new Array<T | undefined>(cap * 2);
      for (let i = 0; i < n; i++) items[i] = this.items[this.head + i];
      this.starts = starts;
      this.ends = ends;
      this.items = items;
    } else {
      this.starts.copyWithin(0, this.head, this.tail);
      this.ends.copyWithin(0, this.head, this.tail);
      this.items.copyWithin(0, this.head, this.tail);
      this.items.fill(undefined, n, this.tail);
    }
    this.head = 0;
    this.tail = n;
  }
}
