// Fixed log-bucket histograms of durations, for percentiles that can be merged.
//
// Exact percentiles need every value; a fleet's worth of waits does not fit in
// memory, and percentiles of separate captures cannot be combined. Buckets
// fixed once for everyone (8 per power of two of nanoseconds) add up across
// captures, so a merged histogram is the histogram of the union, and its
// percentiles are what one run over all the data would have said.

/** Buckets per power of two: each bucket is 2^(1/8) = 9.05% wide. */
export const SUB = 8;
/** Buckets 0..MAX_BUCKET-1 cover 1 ns .. 2^50 ns (13 days); longer goes in the last. */
export const MAX_BUCKET = 50 * SUB;
export const HISTOGRAM_SCHEME = {
  scheme: 'log2',
  sub_buckets: SUB,
  unit: 'ns',
  bucket: 'bucket i holds durations d with 2^(i/8) <= d < 2^((i+1)/8) ns; "zero" counts d < 1 ns',
  percentile: 'the geometric middle of the bucket holding the rank, clamped to [min, max]: within 4.4% of an exact percentile',
} as const;

export interface HistogramJSON {
  count: number;
  sum_ns: number;
  min_ns: number | null;
  max_ns: number | null;
  zero: number;
  /** Sparse: [bucket index, count] for every non-empty bucket, in index order. */
  buckets: Array<[number, number]>;
}

export function bucketOf(ns: number): number {
  if (ns < 1) return -1;
  const i = Math.floor(Math.log2(ns) * SUB);
  return i >= MAX_BUCKET ? MAX_BUCKET - 1 : i;
}

export class LogHistogram {
  private counts = new Float64Array(MAX_BUCKET);
  zero = 0;
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  add(ns: number): void {
    const i = bucketOf(ns);
    if (i < 0) this.zero++;
    else this.counts[i]!++;
    this.count++;
    this.sum += ns;
    if (ns < this.min) this.min = ns;
    if (ns > this.max) this.max = ns;
  }

  merge(o: LogHistogram): void {
    for (let i = 0; i < MAX_BUCKET; i++) this.counts[i]! += o.counts[i]!;
    this.zero += o.zero;
    this.count += o.count;
    this.sum += o.sum;
    if (o.min < this.min) this.min = o.min;
    if (o.max > this.max) this.max = o.max;
  }

  /** The q-quantile (0 < q <= 1) at the histogram's resolution; null when empty. */
  percentile(q: number): number | null {
    if (this.count === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = this.zero;
    if (seen >= rank) return this.min;
    for (let i = 0; i < MAX_BUCKET; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) {
        const mid = Math.pow(2, (i + 0.5) / SUB);
        return Math.min(this.max, Math.max(this.min, mid));
      }
    }
    return this.max;
  }

  toJSON(): HistogramJSON {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < MAX_BUCKET; i++) if (this.counts[i]! > 0) buckets.push([i, this.counts[i]!]);
    return {
      count: this.count,
      sum_ns: this.sum,
      min_ns: this.count > 0 ? this.min : null,
      max_ns: this.count > 0 ? this.max : null,
      zero: this.zero,
      buckets,
    };
  }

  static fromJSON(j: HistogramJSON): LogHistogram {
    const h = new LogHistogram();
    for (const [i, n] of j.buckets) {
      if (!Number.isInteger(i) || i < 0 || i >= MAX_BUCKET || !(n >= 0)) throw new Error(`bad histogram bucket [${i}, ${n}]`);
      h.counts[i]! += n;
    }
    h.zero = j.zero;
    h.count = j.count;
    h.sum = j.sum_ns;
    h.min = j.min_ns ?? Infinity;
    h.max = j.max_ns ?? -Infinity;
    return h;
  }
}
