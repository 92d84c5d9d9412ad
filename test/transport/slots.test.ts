/**
 * Slots (src/transport/slots.ts): a slot lent back while its holder waits goes to the next in line, comes back on
 * `acquire`, and is returned exactly once by `done`, even when the holder finishes while waiting to get it back.
 */
import { describe, expect, it } from 'vitest';
import { Slots } from '../../src/transport/slots.js';

/** Whether `p` has settled after the pending microtasks ran. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('Slots: lending a held slot', () => {
  it('a lent slot serves the next in line; taking it back waits its turn; done returns it once', async () => {
    const slots = new Slots(1);
    const a = await slots.take();
    const b = slots.take();
    expect(await settled(b)).toBe(false);
    a.release(); // a waits out a retry: b runs
    const held = await b;
    const back = a.acquire();
    expect(await settled(back)).toBe(false); // a waits for its turn
    held.done();
    expect(await settled(back)).toBe(true);
    a.done();
    a.done(); // idempotent: one slot went back, not two
    const c = await slots.take();
    expect(await settled(slots.take())).toBe(false);
    c.done();
  });

  it('a holder that finishes while waiting to take its slot back gives it up as soon as it gets it', async () => {
    const slots = new Slots(1);
    const a = await slots.take();
    a.release();
    const b = await slots.take();
    const back = a.acquire();
    a.done(); // interrupted while waiting for the slot
    b.done();
    await back;
    // The slot is free again: nobody holds it.
    const c = slots.take();
    expect(await settled(c)).toBe(true);
    (await c).done();
  });

  it('tryTake: a slot only when one is free now, never ahead of those waiting for one', async () => {
    const slots = new Slots(1);
    const a = slots.tryTake();
    expect(a).not.toBeNull();
    expect(slots.tryTake()).toBeNull();
    a?.release(); // lent: free for the next
    const b = slots.tryTake();
    expect(b).not.toBeNull();
    const back = a?.acquire() as Promise<void>; // a waits for its turn
    b?.done();
    expect(slots.tryTake()).toBeNull(); // the freed slot went to a, who was waiting
    await back;
    a?.done();
    expect(slots.tryTake()).not.toBeNull();
  });
});
