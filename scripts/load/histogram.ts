/** What a histogram says about its latencies: null percentiles when it holds none. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/**
 * Latencies in a log-linear histogram: fixed memory whatever the run's
 * length, each value kept within 1% (100 buckets per power of ten, from
 * 1 microsecond to 1000 seconds). Values are milliseconds.
 */
export class Histogram {
  static readonly BUCKETS_PER_DECADE = 100;
  static readonly MIN_MS = 0.001;
  static readonly DECADES = 9;

  readonly counts = new Uint32Array(Histogram.BUCKETS_PER_DECADE * Histogram.DECADES + 1);
  count = 0;
  sum = 0;
  max = 0;

  /** Records one latency in milliseconds. */
  record(ms: number): void {
    const value = Math.max(ms, Histogram.MIN_MS);
    const index = Math.min(this.counts.length - 1, Math.floor(Math.log10(value / Histogram.MIN_MS) * Histogram.BUCKETS_PER_DECADE));
    this.counts[index]!++;
    this.count++;
    this.sum += ms;
    if (ms > this.max) this.max = ms;
  }

  /** Adds another histogram's values to this one. */
  merge(other: Histogram): void {
    for (let i = 0; i < this.counts.length; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
    this.max = Math.max(this.max, other.max);
  }

  /** The value at percentile `p` (0-100): the upper edge of its bucket, never above the largest value seen; NaN when empty. */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.count));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(this.max, Histogram.MIN_MS * 10 ** ((i + 1) / Histogram.BUCKETS_PER_DECADE));
    }
    return this.max;
  }

  /** p50, p95, p99 and max, rounded to 0.01 ms. */
  summary(): LatencySummary {
    const round = (value: number): number | null => (Number.isNaN(value) ? null : Math.round(value * 100) / 100);
    return { count: this.count, p50: round(this.percentile(50)), p95: round(this.percentile(95)), p99: round(this.percentile(99)), max: round(this.max) };
  }
}
