/** The copy's weighed fraction (src/usb/copy-progress.ts): refs by their download sizes, capped, never back. */
import { expect, it } from 'vitest';
import { CopyFraction } from '../../src/usb/copy-progress.js';

it('weighs each ref by its download size and caps a ref at its weight', () => {
  const f = CopyFraction.of([100, 300]) as CopyFraction;
  expect(f.at(0, 0)).toBe(0);
  expect(f.at(0, 50)).toBe(0.125);
  expect(f.at(0, 500)).toBe(0.25); // more bytes than its weight (a larger deflate): capped
  expect(f.at(1, 0)).toBe(0.25);
  expect(f.at(1, 150)).toBe(0.625);
  expect(f.at(1, 300)).toBe(1);
  // A ref with no size (an appstream commit) weighs nothing; with no sized ref there is no fraction.
  const g = CopyFraction.of([100, null, 100]) as CopyFraction;
  expect([g.at(0, 100), g.at(1, 5000), g.at(2, 0), g.at(2, 50)]).toEqual([0.5, 0.5, 0.5, 0.75]);
  expect(CopyFraction.of([null, 0])).toBeNull();
  expect(CopyFraction.of([])).toBeNull();
});
