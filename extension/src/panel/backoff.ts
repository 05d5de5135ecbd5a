// Exponential back-off with jitter for reconnects: quick at first (a daemon restart takes
// well under a second), capped so a long outage costs one attempt every few seconds.

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly firstMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.firstMs * 2 ** this.attempt);
    this.attempt += 1;
    // Between half and all of the ceiling, so many panels do not reconnect in lockstep.
    return Math.round(ceiling / 2 + (this.random() * ceiling) / 2);
  }

  reset(): void {
    this.attempt = 0;
  }
}
