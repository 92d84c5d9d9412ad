/** The progress bar's numbers (src/cli/progress.ts ProgressModel): no 0/0 bar, a total that never goes down, ETA. */
import { expect, it } from 'vitest';
import { ProgressModel } from '../../src/cli/progress.js';

it('a phase with nothing to count shows no bar', () => {
  const m = new ProgressModel();
  expect(m.update({ phase: 'copy', objectsDone: 0, bytesDone: 0 }, 0).bar).toBe(false);
  expect(m.update({ phase: 'publish', objectsDone: 0, bytesDone: 0 }, 10).bar).toBe(false);
});

it('the publish: a status line with what it waits for, then a bar once it counts the objects it moves', () => {
  const m = new ProgressModel();
  const wait = m.update(
    { phase: 'publish', objectsDone: 0, bytesDone: 0, detail: 'writing the staged objects out' },
    0,
  );
  expect([wait.bar, wait.detail]).toEqual([false, 'writing the staged objects out']);
  const moving = m.update({ phase: 'publish', objectsDone: 10, objectsTotal: 40, bytesDone: 0 }, 2000);
  expect([moving.bar, moving.done, moving.total, moving.growing, moving.detail]).toEqual([true, 10, 40, false, '']);
  // The rate counts from the first counted event (2 s), not from the status line (0 s).
  expect(moving.rate).toBe(''); // nothing counted over any time yet
  const later = m.update({ phase: 'publish', objectsDone: 30, objectsTotal: 40, bytesDone: 0 }, 4000);
  expect([later.bytes, later.rate]).toEqual(['', '15 obj/s']);
});

it('the copy total never jumps backwards when a new ref starts its own walk, and is marked as growing meanwhile', () => {
  const m = new ProgressModel();
  const a = m.update(
    { phase: 'copy', ref: 'a', refIndex: 1, refCount: 2, objectsDone: 50, objectsTotal: 100, bytesDone: 1000 },
    0,
  );
  expect([a.total, a.growing]).toEqual([100, true]);
  // Ref 2 begins: base 100 done + a fresh walk that has found 3 objects so far.
  const b = m.update(
    { phase: 'copy', ref: 'b', refIndex: 2, refCount: 2, objectsDone: 100, objectsTotal: 103, bytesDone: 2000 },
    1000,
  );
  expect(b.total).toBe(103);
  const c = m.update(
    { phase: 'copy', ref: 'b', refIndex: 2, refCount: 2, objectsDone: 101, objectsTotal: 101, bytesDone: 2100 },
    1100,
  );
  expect(c.total).toBe(103);
});

it('bytes, rate and ETA on the copy bar once the total is settled', () => {
  const m = new ProgressModel();
  m.update({ phase: 'copy', ref: 'a', refIndex: 1, refCount: 1, objectsDone: 0, objectsTotal: 1000, bytesDone: 0 }, 0);
  const v = m.update(
    { phase: 'copy', ref: 'a', refIndex: 1, refCount: 1, objectsDone: 250, objectsTotal: 1000, bytesDone: 5_000_000 },
    10_000,
  );
  expect(v.bytes).toBe('5.0 MB');
  expect(v.rate).toBe('500 kB/s');
  expect(v.eta).toBe('ETA 30s');
  expect(v.ref).toBe('1/1 a');
  // Early (under a tenth done) or while the total may grow: no ETA.
  const m2 = new ProgressModel();
  m2.update({ phase: 'copy', objectsDone: 0, objectsTotal: 1000, bytesDone: 0 }, 0);
  expect(m2.update({ phase: 'copy', objectsDone: 50, objectsTotal: 1000, bytesDone: 10 }, 5000).eta).toBe('');
});

it('a weighed phase fills by its fraction, which never goes back, and gives the ETA from it', () => {
  const m = new ProgressModel();
  const e = (done: number, fraction: number) => ({
    phase: 'copy' as const,
    objectsDone: done,
    bytesDone: done * 100,
    fraction,
  });
  const a = m.update(e(10, 0.05), 0);
  expect([a.bar, a.fraction, a.eta]).toEqual([true, 0.05, '']);
  const b = m.update(e(400, 0.25), 3000);
  expect([b.fraction, b.eta]).toEqual([0.25, 'ETA 9s']); // 3 s for a quarter: 9 s for the rest
  // A later event that weighs less (a new ref's first bytes) does not move the bar back.
  expect(m.update(e(401, 0.2), 3100).fraction).toBe(0.25);
  expect(m.update(e(900, 1), 6000)).toMatchObject({ fraction: 1, eta: '' });
  // Objects only (no fraction): as before, no fraction in the view.
  expect(
    new ProgressModel().update({ phase: 'publish', objectsDone: 1, objectsTotal: 4, bytesDone: 0 }, 0).fraction,
  ).toBe(null);
});
