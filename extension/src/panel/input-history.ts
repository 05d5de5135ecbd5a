// The instruction box's history, shell style: ↑ walks back through earlier instructions,
// ↓ forward, and walking past the newest restores what was being typed. Pure.

export class InputHistory {
  private entries: string[] = [];
  /** Index into `entries` while browsing; `entries.length` = the draft. */
  private cursor = 0;
  private draft = "";

  constructor(private readonly limit = 100) {}

  /** Earlier instructions, oldest first (e.g. from the session's history). */
  seed(instructions: readonly string[]): void {
    this.entries = [];
    for (const text of instructions) this.remember(text);
    this.cursor = this.entries.length;
  }

  /** Records a sent instruction and stops browsing. */
  push(text: string): void {
    this.remember(text);
    this.cursor = this.entries.length;
    this.draft = "";
  }

  /** The entry before the current one, or null at the oldest. `current` is the box's text. */
  previous(current: string): string | null {
    if (this.cursor === 0) return null;
    if (this.cursor === this.entries.length) this.draft = current;
    this.cursor -= 1;
    return this.entries[this.cursor] ?? null;
  }

  /** The entry after the current one, the saved draft past the newest, or null when not browsing. */
  next(): string | null {
    if (this.cursor >= this.entries.length) return null;
    this.cursor += 1;
    return this.cursor === this.entries.length ? this.draft : (this.entries[this.cursor] ?? null);
  }

  get browsing(): boolean {
    return this.cursor < this.entries.length;
  }

  private remember(text: string): void {
    const trimmed = text.trim();
    if (!trimmed) return;
    if (this.entries[this.entries.length - 1] === trimmed) return;
    this.entries.push(trimmed);
    if (this.entries.length > this.limit) this.entries.shift();
  }
}
