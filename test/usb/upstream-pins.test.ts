/**
 * A run from a lockfile compares the upstream summaries it is about to carry with what the lock recorded
 * (checkUpstreamPins): another summary, or a signature by a key the lock does not name, is a warning
 * (`lock-upstream-changed`); lockfiles that recorded only the signature kinds compare the summary alone.
 */
import { createHash } from 'node:crypto';
import { expect, it } from 'vitest';
import { Warner } from '../../src/warnings.js';
import { checkUpstreamPins, upstreamDigest, type UpstreamSet } from '../../src/usb/upstream-copy.js';

const idx = Buffer.from('summary.idx bytes');
const digest = `sha256:${createHash('sha256').update(idx).digest('hex')}`;
const FPR = 'E8486DD431CE48410A2921F0FD38FB9E391B5C65';
const OTHER = '0123456789ABCDEF0123456789ABCDEF01234567';
const set: UpstreamSet = {
  copies: new Map([
    [
      'org.example.Stable',
      {
        collectionId: 'org.example.Stable',
        files: new Map([['summary.idx', idx]]),
        record: '{}',
        signedBy: ['gpg'],
        keys: [FPR],
        root: 'summary.idx',
      },
    ],
    ['org.example.None', null],
  ]),
  meta: new Map(),
};

function check(pin: { upstream?: Record<string, string>; keys?: string[] }, cid = 'org.example.Stable') {
  const w = new Warner();
  checkUpstreamPins(set, new Map([[cid, pin]]), w.warn);
  return w.warnings.map((x) => `${x.code}: ${x.message}`);
}

it('the digest is sha256 of the root file, as lockfiles record it', () => {
  const up = set.copies.get('org.example.Stable');
  expect(up && upstreamDigest(up)).toBe(digest);
});

it('the same summary signed by a locked key: no warning', () => {
  expect(check({ upstream: { 'org.example.Stable': digest }, keys: [FPR] })).toEqual([]);
  // Several keys locked, one of them signs now: still the reviewed key.
  expect(check({ upstream: { 'org.example.Stable': digest }, keys: [OTHER, FPR] })).toEqual([]);
});

it('another summary, or another key, is named with both sides', () => {
  const other = `sha256:${'ab'.repeat(32)}`;
  expect(check({ upstream: { 'org.example.Stable': other }, keys: [FPR] })).toEqual([
    `lock-upstream-changed: the upstream summary of 'org.example.Stable' is not the one locked (sha256:abababababab… ` +
      `then, ${digest.slice(0, 19)}… now): the drive carries the current one; lock again to review it`,
  ]);
  expect(check({ upstream: { 'org.example.Stable': digest }, keys: [OTHER] })).toEqual([
    `lock-upstream-changed: the upstream summary of 'org.example.Stable' is signed by ${FPR}, which the lock does ` +
      `not name (it names ${OTHER}); lock again to review the key`,
  ]);
});

it('a lock that recorded only signature kinds compares the summary alone; no copy carried, nothing to compare', () => {
  expect(check({ upstream: { 'org.example.Stable': digest }, keys: ['gpg'] })).toEqual([]);
  expect(check({ upstream: { 'org.example.None': digest }, keys: [OTHER] }, 'org.example.None')).toEqual([]);
});
