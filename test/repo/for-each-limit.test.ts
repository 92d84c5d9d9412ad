/**
 * forEachLimit, mapLimit and forEachLimitOf (repo/for-each-limit.ts): the bound on work in flight, order, and which
 * error is thrown.
 */
import { describe, expect, it } from 'vitest';
import { forEachLimit, forEachLimitOf, mapLimit } from '../../src/repo/for-each-limit.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('mapLimit', () => {
  it('returns the results in the items order, with at most `limit` running', async () => {
    let running = 0;
    let most = 0;
    const got = await mapLimit([30, 5, 20, 1, 10, 2], 3, async (ms, i) => {
      most = Math.max(most, ++running);
      await tick(ms);
      running--;
      return `${i}:${ms}`;
    });
    expect(got).toEqual(['0:30', '1:5', '2:20', '3:1', '4:10', '5:2']);
    expect(most).toBe(3);
  });

  it('runs every item and throws the error of the first in order, not the first to fail', async () => {
    const ran: number[] = [];
    const err = await mapLimit([0, 1, 2, 3], 4, async (i) => {
      await tick(i === 1 ? 20 : 1);
      ran.push(i);
      if (i === 1 || i === 3) throw new Error(`item ${i}`);
      return i;
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('item 1');
    expect(ran.sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('forEachLimit', () => {
  it('stops taking new items after the first failure and throws it', async () => {
    const ran: number[] = [];
    await expect(
      forEachLimit([0, 1, 2, 3], 1, async (i) => {
        ran.push(i);
        if (i === 1) throw new Error('stop');
      }),
    ).rejects.toThrow('stop');
    expect(ran).toEqual([0, 1]);
  });
});

describe('forEachLimitOf', () => {
  /** An async iterable of `items` that counts how many it has handed out and whether it was closed early. */
  function source(items: number[]) {
    const state = { taken: 0, closed: false };
    async function* gen() {
      try {
        for (const i of items) {
          state.taken++;
          yield i;
        }
      } finally {
        state.closed = true;
      }
    }
    return { iterable: gen(), state };
  }

  it('takes the next item only when one of `limit` slots is free, and lets every started call settle', async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    const { iterable, state } = source([30, 5, 20, 1, 10, 2]);
    await forEachLimitOf(iterable, 3, async (ms) => {
      most = Math.max(most, ++running);
      expect(state.taken - done.length).toBeLessThanOrEqual(3);
      await tick(ms);
      running--;
      done.push(ms);
    });
    expect(most).toBe(3);
    expect(done.sort((a, b) => a - b)).toEqual([1, 2, 5, 10, 20, 30]);
  });

  it('after a failure takes no more items, waits for the calls in flight, then throws the first error', async () => {
    const settled: number[] = [];
    const { iterable, state } = source([1, 2, 3, 4, 5, 6, 7, 8]);
    const err = await forEachLimitOf(iterable, 2, async (i) => {
      await tick(i === 2 ? 1 : 15);
      settled.push(i);
      if (i === 2) throw new Error(`item ${i}`);
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('item 2');
    // 1 was in flight when 2 failed and settled before the error was thrown; 3 was taken, not run; nothing after.
    expect(settled.sort()).toEqual([1, 2]);
    expect(state.taken).toBe(3);
    expect(state.closed).toBe(true);
  });

  it('stops taking items when told, and throws the iteration’s own error after the calls in flight', async () => {
    let stop = false;
    const seen: number[] = [];
    await forEachLimitOf(
      source([1, 2, 3, 4]).iterable,
      1,
      async (i) => {
        seen.push(i);
        if (i === 2) stop = true;
      },
      () => stop,
    );
    expect(seen).toEqual([1, 2]);
    async function* broken() {
      yield 1;
      throw new Error('walk failed');
    }
    let finished = false;
    const err = await forEachLimitOf(broken(), 4, async () => {
      await tick(10);
      finished = true;
    }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('walk failed');
    expect(finished).toBe(true);
  });
});
