/**
 * Records of passed GPG checks (src/sign/check-records.ts): a pass is recorded with the window it holds for, a
 * record stands in for the check only when it is this user's private file for exactly these bytes and holds now, and
 * a failure is never recorded. Keys and signatures are made with OpenPGP.js (the library the check itself uses);
 * gpg.interop.test.ts checks real gpg's.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readRecord, recordName, recordsDir, writeRecord } from '../../src/sign/check-records.js';
import { keyringKeys, recordDomain } from '../../src/sign/gpg.js';
import { verifyGpg } from '../../src/sign/index.js';
import { tempDir } from '../helpers/tmp.js';

interface Signer {
  readonly keyring: Uint8Array;
  readonly fingerprint: string;
  readonly sign: (data: Uint8Array) => Promise<Uint8Array>;
}

const DAY = 86_400_000;

/** An ed25519 key made `createdAgo` ms ago, expiring `expiresIn` seconds after its creation (0: never). */
async function signer(createdAgo = 0, expiresIn = 0): Promise<Signer> {
  const date = new Date(Date.now() - createdAgo);
  const { privateKey, publicKey } = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: 'Records Test', email: 'records@example.org' }],
    keyExpirationTime: expiresIn,
    date,
    format: 'object',
  });
  return {
    keyring: publicKey.write(),
    fingerprint: publicKey.getFingerprint().toUpperCase(),
    sign: async (data) =>
      openpgp.sign({
        message: await openpgp.createMessage({ binary: data }),
        signingKeys: privateKey,
        detached: true,
        format: 'binary',
        date,
      }) as Promise<Uint8Array>,
  };
}

const data = new Uint8Array(Buffer.from('the upstream summary.idx\n'));
let key: Signer;
let sig: Uint8Array;
let dir: string;
let saved: string | undefined;

beforeAll(async () => {
  key = await signer();
  sig = await key.sign(data);
});

beforeEach(async () => {
  saved = process.env['SIDELOAD_CACHE_DIR'];
  process.env['SIDELOAD_CACHE_DIR'] = path.join(await tempDir('records-'), 'cache');
  dir = recordsDir() as string;
});

afterEach(() => {
  if (saved === undefined) delete process.env['SIDELOAD_CACHE_DIR'];
  else process.env['SIDELOAD_CACHE_DIR'] = saved;
});

const names = async () => (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n));

/** Writes a record for `name` by hand (as a user, or anyone able to write there, could). */
async function forge(name: string, body: object, mode = 0o600): Promise<string> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  await fs.writeFile(file, JSON.stringify({ v: 1, name, ...body }), { mode });
  await fs.chmod(file, mode);
  return file;
}

describe('recording GPG checks that passed', () => {
  it('records a pass, private to the user, with the key and the window', async () => {
    const r = await verifyGpg([key.keyring], data, [sig]);
    expect(r).toEqual({ valid: true, keyId: key.fingerprint });
    const [name] = await names();
    expect(name).toBeDefined();
    const file = path.join(dir, name as string);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700);
    const rec = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
    expect(rec).toMatchObject({ v: 1, name, keyId: key.fingerprint, notAfter: null });
    expect(Math.abs((rec['notBefore'] as number) - Date.now())).toBeLessThan(60_000);
    // and answers the same check again from the record
    expect(await verifyGpg([key.keyring], data, [sig])).toEqual({ valid: true, keyId: key.fingerprint });
    expect(await names()).toEqual([name]);
  });

  it('records no failure, and a record for other bytes does not answer', async () => {
    const other = new Uint8Array(Buffer.from('another summary.idx\n'));
    const r = await verifyGpg([key.keyring], other, [sig]);
    expect(r.valid).toBe(false);
    expect(await names()).toEqual([]);
    await verifyGpg([key.keyring], data, [sig]);
    expect(await names()).toHaveLength(1);
    expect((await verifyGpg([key.keyring], other, [sig])).valid).toBe(false);
  });

  it('answers from a record only where it is the user’s private, well-formed file for this name', async () => {
    const bad = new Uint8Array(Buffer.from('tampered\n'));
    const name = recordName(recordDomain(), [key.keyring], bad, [sig]);
    const body = { keyId: key.fingerprint, notBefore: Date.now() - DAY, notAfter: null };
    // The user's own record is believed: that is the trust the records rest on (the module comment says why).
    const file = await forge(name, body);
    expect(await verifyGpg([key.keyring], bad, [sig])).toEqual({ valid: true, keyId: key.fingerprint });
    // Writable by the group or others, a symlink, another name's content, too large, malformed: no record.
    await fs.chmod(file, 0o620);
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await fs.rm(file);
    const elsewhere = await forge('0'.repeat(64), body);
    await fs.symlink(elsewhere, file);
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await fs.rm(file);
    await forge(name, { ...body, name: '0'.repeat(64) });
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await forge(name, { ...body, pad: 'x'.repeat(5000) });
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await forge(name, { ...body, keyId: 'not hex' });
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await forge(name, body);
    await fs.chmod(dir, 0o770);
    expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    await fs.chmod(dir, 0o700);
    if (process.getuid?.() === 0) {
      await fs.chown(path.join(dir, name), 65534, 65534); // another user's file
      expect((await verifyGpg([key.keyring], bad, [sig])).valid).toBe(false);
    }
  });

  it('a record holds from the signature’s creation to the first expiry, then the check runs again', async () => {
    const soon = await signer(DAY, 2 * 86_400); // made a day ago, expires tomorrow
    const s = await soon.sign(data);
    expect((await verifyGpg([soon.keyring], data, [s])).valid).toBe(true);
    const [name] = await names();
    const rec = await readRecord(dir, name as string);
    expect(rec?.notAfter).not.toBeNull();
    expect(Math.abs((rec?.notAfter as number) - (Date.now() + DAY))).toBeLessThan(60_000);
    expect(Math.abs((rec?.notBefore as number) - (Date.now() - DAY))).toBeLessThan(60_000);
    expect(await readRecord(dir, name as string, (rec?.notAfter as number) + 1)).toBeNull();
    expect(await readRecord(dir, name as string, (rec?.notBefore as number) - 1)).toBeNull();
    // A key that has expired since it signed: refused (as ostree does), and nothing is recorded.
    const gone = await signer(3 * DAY, 86_400);
    const g = await gone.sign(data);
    const before = await names();
    expect(await verifyGpg([gone.keyring], data, [g])).toMatchObject({
      valid: false,
      reason: expect.stringMatching(/expired on/) as unknown,
    });
    expect(await names()).toEqual(before);
  });

  it('records a keyring OpenPGP.js read (--gpg-import files are read on every run), and not an unreadable one', async () => {
    expect(await keyringKeys(key.keyring)).toBe(1);
    const [name] = await names();
    expect(name).toBe(recordName(recordDomain('keyring'), [key.keyring], new Uint8Array(), []));
    expect(await keyringKeys(key.keyring)).toBe(1);
    const junk = new Uint8Array([0x99, 0x00, 0x03, 1, 2, 3]);
    await expect(keyringKeys(junk)).rejects.toMatchObject({ code: 'EKEYRING' });
    expect(await names()).toEqual([name]);
  });

  it('past 1,000 records the oldest go, down to 500', async () => {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const hex = (i: number) => i.toString(16).padStart(64, '0');
    for (let i = 0; i < 1000; i++) {
      const file = path.join(dir, hex(i));
      await fs.writeFile(file, '{}', { mode: 0o600 });
      await fs.utimes(file, 1_000_000 + i, 1_000_000 + i); // record i is the i-th oldest
    }
    await writeRecord(dir, 'f'.repeat(64), { keyId: 'A'.repeat(40), notBefore: 0, notAfter: null });
    const left = await names();
    expect(left).toHaveLength(500);
    expect(left).toContain('f'.repeat(64));
    expect(left).not.toContain(hex(500)); // the 501 oldest went
    expect(left).toContain(hex(501));
  });

  it('names a record by every part, length-prefixed', () => {
    const a = new Uint8Array([1, 2]);
    const b = new Uint8Array([3]);
    const n = (k: Uint8Array[], d: Uint8Array, s: Uint8Array[], dom = 'd') => recordName(dom, k, d, s);
    const all = [
      n([a, b], b, [a]),
      n([a], b, [b, a]),
      n([new Uint8Array([1])], new Uint8Array([2, 3]), [a]),
      n([a, b], b, [a], 'e'),
      n([a, b], a, [a]),
    ];
    expect(new Set(all).size).toBe(all.length);
  });

  it('SIDELOAD_CACHE_DIR=off keeps none; XDG_CACHE_HOME and HOME place them otherwise', async () => {
    process.env['SIDELOAD_CACHE_DIR'] = 'off';
    expect(recordsDir()).toBeNull();
    expect((await verifyGpg([key.keyring], data, [sig])).valid).toBe(true);
    expect(await names()).toEqual([]);
    expect(recordsDir({ XDG_CACHE_HOME: '/c' })).toBe('/c/sideload/gpg-checks');
    expect(recordsDir({ HOME: '/h' })).toBe('/h/.cache/sideload/gpg-checks');
  });

  it('writing is best effort: an unwritable place costs the record, not the run', async () => {
    const blocked = path.join(await tempDir('records-'), 'file');
    await fs.writeFile(blocked, '');
    await writeRecord(path.join(blocked, 'gpg-checks'), 'a'.repeat(64), {
      keyId: 'A'.repeat(40),
      notBefore: 0,
      notAfter: null,
    });
    expect(await fs.readFile(blocked, 'utf8')).toBe('');
    // A directory others may write to would never be read from: nothing is written there either.
    const shared = path.join(await tempDir('records-'), 'shared');
    await fs.mkdir(shared, { mode: 0o777 });
    await fs.chmod(shared, 0o777);
    await writeRecord(path.join(shared, 'gpg-checks'), 'a'.repeat(64), {
      keyId: 'A'.repeat(40),
      notBefore: 0,
      notAfter: null,
    });
    expect(await fs.readdir(path.join(shared, 'gpg-checks'))).toEqual([]);
  });
});
