/**
 * The built CLI and the records of passed GPG checks (src/sign/check-records.ts): a re-run that meets the same
 * upstream summary, signatures and keyring answers from the record and never loads OpenPGP.js (what made a re-run with
 * nothing new ~33 ms slower); other keys, or records turned off, and the check runs as before.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { expect, it } from 'vitest';
import { readRecord } from '../../src/sign/check-records.js';
import { run, sideload } from '../helpers/flatpak-fixtures.js';
import { exampleCreateArgs } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

const loadsOpenpgp = (stderr: string) => /code cache \w+: openpgp/.test(stderr);

it('a re-run answers the upstream GPG check from its record, for the same keyring only', async () => {
  const dir = await tempDir('sideload-records-');
  const drive = path.join(dir, 'drive');
  await fs.mkdir(drive);
  const cache = path.join(dir, 'cache');
  const env = { ...process.env, SIDELOAD_CACHE_DIR: cache, SIDELOAD_DEBUG: 'code-cache' };
  const create = ['create', '--json', '--no-fsync', ...exampleCreateArgs(drive)];

  const first = await sideload(create, { env });
  expect(first.code, first.stderr).toBe(0);
  expect(loadsOpenpgp(first.stderr)).toBe(true);
  const records = await fs.readdir(path.join(cache, 'gpg-checks'));
  expect(records.length).toBeGreaterThan(0);

  const again = await sideload(create, { env });
  expect(again.code, again.stderr).toBe(0);
  expect(loadsOpenpgp(again.stderr)).toBe(false);
  const report = JSON.parse(again.stdout) as { changed: boolean; upstream: Record<string, { signedBy: string[] }> };
  expect(report.changed).toBe(false);
  expect(Object.values(report.upstream).map((u) => u.signedBy)).toEqual([['gpg']]);
  expect(await fs.readdir(path.join(cache, 'gpg-checks'))).toEqual(records);

  // Another keyring (a key that did not sign the repo): no record answers, the check runs and refuses.
  const other = await openpgp.generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name: 'Other' }] });
  const otherKey = path.join(dir, 'other.asc');
  await fs.writeFile(otherKey, other.publicKey);
  const foreign = create.map((a) => (a.endsWith('example.gpg') ? otherKey : a));
  const refused = await sideload(foreign, { env });
  expect(refused.code, refused.stderr).toBe(5);
  expect(refused.stdout + refused.stderr).toMatch(/not among the trusted keys/);

  // Records off: the check runs again.
  const off = await sideload(create, { env: { ...env, SIDELOAD_CACHE_DIR: 'off' } });
  expect(off.code, off.stderr).toBe(0);
  expect(loadsOpenpgp(off.stderr)).toBe(true);
});

it('a FIFO in the place of a record is no record, and no wait', async () => {
  const dir = path.join(await tempDir('sideload-records-'), 'gpg-checks');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  await fs.chmod(path.dirname(dir), 0o700);
  const name = 'a'.repeat(64);
  expect((await run('mkfifo', [path.join(dir, name)])).code).toBe(0);
  expect(await readRecord(dir, name)).toBeNull();
});
