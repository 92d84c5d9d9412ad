/**
 * A queue bounding work in flight, first come, first served: the HTTP transport's requests (http.ts), the copy's
 * objects (src/repo/copy.ts) and the walk's dirtree reads (src/repo/traverse.ts). A slot taken with `take` can be lent back while its holder waits out a retry delay
 * (ReadOptions.slot): the holder then keeps nothing of the body, and others run meanwhile.
 */
import type { LentSlot } from './types.js';

export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  constructor(private readonly max: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.max) {
      this.active++;
      return;
    }
    await new Promise<void>((r) => this.waiting.push(r));
  }

  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.active--;
  }

  /** A slot, once one is free: lendable while held, and given back by `done` whether it is lent at the time or not. */
  take(): Promise<HeldSlot> {
    const now = this.tryTake();
    return now ? Promise.resolve(now) : this.acquire().then(() => new HeldSlot(this));
  }

  /** A slot if one is free now (none is while others wait for one), else null. */
  tryTake(): HeldSlot | null {
    if (this.active >= this.max) return null;
    this.active++;
    return new HeldSlot(this);
  }
}

export class HeldSlot implements LentSlot {
  private held = true;
  private ended = false;
  constructor(private readonly slots: Slots) {}

  release(): void {
    if (!this.held) return;
    this.held = false;
    this.slots.release();
  }

  async acquire(): Promise<void> {
    if (this.held || this.ended) return;
    await this.slots.acquire();
    this.held = true;
    if (this.ended) this.release(); // the holder finished while it waited
  }

  /** The holder is finished: the slot goes back (once), lent or not. */
  done(): void {
    this.ended = true;
    this.release();
  }
}
