/**
 * Backpressure for offline runs: a source may take a frame out of its input only with a credit,
 * and a credit comes back when a frame has left the last sink. So at most `limit` frames are ever
 * inside the pipeline, whatever the video's length and however slow inference is.
 */
export class FrameCredits {
  private available: number;
  private readonly waiters: (() => void)[] = [];
  private cancelled = false;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`credit limit must be a positive integer, got ${limit}`);
    this.available = limit;
  }

  /** Frames currently inside the pipeline. */
  get inFlight(): number {
    return this.limit - this.available;
  }

  /** Resolves when a credit is taken; resolves at once after `cancel()` so a stopped source can exit. */
  acquire(): Promise<void> {
    if (this.cancelled) return Promise.resolve();
    if (this.available > 0) {
      this.available -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available = Math.min(this.limit, this.available + 1);
  }

  cancel(): void {
    this.cancelled = true;
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}
