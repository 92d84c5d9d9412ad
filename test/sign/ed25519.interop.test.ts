/**
 * ed25519 (format.md §7.2): `sideload keygen` (the compiled CLI) writes ostree's key text format, and our signatures
 * are plain RFC 8032 Ed25519 as checked by an independent implementation (the openssl CLI, and OpenSSL through
 * node:crypto).
 */
import { createPrivateKey, createPublicKey, randomBytes, verify as cryptoVerify } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Ed25519Signer, Ed25519Verifier, loadPublicKeys, loadSecretKey } from '../../src/sign/index.js';
import { run, sideload } from '../helpers/flatpak-fixtures.js';
import { tempDir } from '../helpers/tmp.js';
import { describeWithTools } from '../helpers/tools.js';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

/** Writes the raw 32-byte public key as SPKI DER (the 12-byte Ed25519 SPKI header + key). */
async function writeSpkiDer(dir: string, name: string, pub: Uint8Array): Promise<string> {
  expect(pub.length).toBe(32);
  const p = path.join(dir, name);
  await fs.writeFile(p, Buffer.concat([SPKI_PREFIX, pub]));
  return p;
}

describe('sideload keygen: ostree key text format', () => {
  let dir: string;
  let secretText: string;
  let publicText: string;
  let json: { ok: boolean; secretKeyFile: string; publicKeyFile: string; publicKey: string };

  beforeAll(async () => {
    dir = await tempDir('sideload-keygen-');
    const r = await sideload(['keygen', '-o', path.join(dir, 'sub', 'drive.key'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    json = JSON.parse(r.stdout);
    secretText = await fs.readFile(path.join(dir, 'sub', 'drive.key'), 'utf8');
    publicText = await fs.readFile(path.join(dir, 'sub', 'drive.key.pub'), 'utf8');
  });

  it('writes one base64 line of the 64-byte secret (seed ‖ public) and one of the 32-byte public key', () => {
    expect(secretText).toMatch(/^[A-Za-z0-9+/]+={0,2}\n$/);
    expect(publicText).toMatch(/^[A-Za-z0-9+/]+={0,2}\n$/);
    const sk = Buffer.from(secretText.trim(), 'base64');
    const pk = Buffer.from(publicText.trim(), 'base64');
    expect(sk.length).toBe(64);
    expect(pk.length).toBe(32);
    // Canonical base64: re-encoding gives the same text (no stray characters silently dropped).
    expect(sk.toString('base64')).toBe(secretText.trim());
    expect(sk.subarray(32).equals(pk)).toBe(true);
    expect(json).toMatchObject({
      ok: true,
      publicKey: publicText.trim(),
      secretKeyFile: path.join(dir, 'sub', 'drive.key'),
      publicKeyFile: path.join(dir, 'sub', 'drive.key.pub'),
    });
  });

  it('the public key is the one OpenSSL derives from the seed (the first 32 bytes)', () => {
    const sk = Buffer.from(secretText.trim(), 'base64');
    const priv = createPrivateKey({
      key: Buffer.concat([PKCS8_PREFIX, sk.subarray(0, 32)]),
      format: 'der',
      type: 'pkcs8',
    });
    const spki = createPublicKey(priv).export({ format: 'der', type: 'spki' });
    expect(spki.subarray(0, 12).equals(SPKI_PREFIX)).toBe(true);
    expect(b64(spki.subarray(12))).toBe(publicText.trim());
  });

  it('keeps the secret key private (0600) and the public key readable (0644)', async () => {
    expect((await fs.stat(path.join(dir, 'sub', 'drive.key'))).mode & 0o777).toBe(0o600);
    expect((await fs.stat(path.join(dir, 'sub', 'drive.key.pub'))).mode & 0o777).toBe(0o644);
  });

  it('refuses to overwrite a key without --force (exit 2) and leaves it as it was', async () => {
    const r = await sideload(['keygen', '-o', path.join(dir, 'sub', 'drive.key')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--force');
    expect(await fs.readFile(path.join(dir, 'sub', 'drive.key'), 'utf8')).toBe(secretText);
    const again = await sideload(['keygen', '-o', path.join(dir, 'sub', 'drive.key'), '--force']);
    expect(again.code).toBe(0);
    expect(await fs.readFile(path.join(dir, 'sub', 'drive.key'), 'utf8')).not.toBe(secretText);
  });

  it('what keygen writes loads back (the secret key file and the .pub file)', () => {
    const sk = loadSecretKey(secretText, 'drive.key');
    const [pk] = loadPublicKeys(publicText, 'drive.key.pub');
    expect(new Ed25519Signer(sk).publicKey).toEqual(pk);
  });
});

describeWithTools(['openssl'], 'ed25519 signatures against openssl', () => {
  let dir: string;
  let secretKey: Uint8Array;
  let publicKey: Uint8Array;
  let pubDer: string;
  let privPem: string;
  const inputs: Array<[string, Uint8Array]> = [
    ['one byte', new Uint8Array([0x42])],
    ['a commit-sized blob', new Uint8Array(randomBytes(717))],
    ['1 MiB', new Uint8Array(randomBytes(1 << 20))],
  ];

  beforeAll(async () => {
    dir = await tempDir('sideload-ed25519-');
    const r = await sideload(['keygen', '-o', path.join(dir, 'k')]);
    expect(r.code, r.stderr).toBe(0);
    secretKey = loadSecretKey(await fs.readFile(path.join(dir, 'k'), 'utf8'), 'k');
    [publicKey] = loadPublicKeys(await fs.readFile(path.join(dir, 'k.pub'), 'utf8'), 'k.pub') as [Uint8Array];
    pubDer = await writeSpkiDer(dir, 'pub.der', publicKey);
    privPem = path.join(dir, 'priv.pem');
    await fs.writeFile(
      privPem,
      createPrivateKey({
        key: Buffer.concat([PKCS8_PREFIX, secretKey.subarray(0, 32)]),
        format: 'der',
        type: 'pkcs8',
      }).export({ format: 'pem', type: 'pkcs8' }),
    );
  });

  const opensslSign = (data: string, out: string) =>
    run('openssl', ['pkeyutl', '-sign', '-inkey', privPem, '-rawin', '-in', data, '-out', out]);

  const opensslVerify = (data: string, sig: string, key = pubDer) =>
    run('openssl', [
      'pkeyutl',
      '-verify',
      '-pubin',
      '-inkey',
      key,
      '-keyform',
      'DER',
      '-rawin',
      '-in',
      data,
      '-sigfile',
      sig,
    ]);

  for (const [name, data] of inputs) {
    it(`our signature over ${name} verifies with openssl pkeyutl, and is the one openssl makes`, async () => {
      const sig = await new Ed25519Signer(secretKey).sign(data);
      expect(sig.length).toBe(64);
      const dataFile = path.join(dir, `${name}.bin`);
      const sigFile = path.join(dir, `${name}.sig`);
      await fs.writeFile(dataFile, data);
      await fs.writeFile(sigFile, sig);
      const r = await opensslVerify(dataFile, sigFile);
      expect(r.code, r.stderr + r.stdout).toBe(0);
      expect(r.stdout).toContain('Signature Verified Successfully');
      // Ed25519 is deterministic: openssl signing with the same seed gives the same 64 bytes.
      const theirs = path.join(dir, `${name}.openssl.sig`);
      const s = await opensslSign(dataFile, theirs);
      expect(s.code, s.stderr).toBe(0);
      expect(new Uint8Array(await fs.readFile(theirs))).toEqual(sig);
    });
  }

  it('the signature over empty data (which the openssl CLI cannot read) verifies with OpenSSL through node:crypto', async () => {
    const sig = await new Ed25519Signer(secretKey).sign(new Uint8Array(0));
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    expect(cryptoVerify(null, new Uint8Array(0), key, sig)).toBe(true);
    expect(cryptoVerify(null, new Uint8Array([0]), key, sig)).toBe(false);
  });

  it('openssl rejects our signature over a flipped byte, and with another key', async () => {
    const data = inputs[2]?.[1] as Uint8Array;
    const sig = await new Ed25519Signer(secretKey).sign(data);
    const flipped = new Uint8Array(data);
    flipped[100] = (flipped[100] as number) ^ 0x01;
    await fs.writeFile(path.join(dir, 'flipped.bin'), flipped);
    await fs.writeFile(path.join(dir, 'flipped.sig'), sig);
    const r = await opensslVerify(path.join(dir, 'flipped.bin'), path.join(dir, 'flipped.sig'));
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('Signature Verification Failure');

    await fs.writeFile(path.join(dir, 'good.bin'), data);
    const otherPub = new Uint8Array(
      createPublicKey(
        createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, randomBytes(32)]), format: 'der', type: 'pkcs8' }),
      )
        .export({ format: 'der', type: 'spki' })
        .subarray(12),
    );
    const other = await writeSpkiDer(dir, 'other.der', otherPub);
    const r2 = await opensslVerify(path.join(dir, 'good.bin'), path.join(dir, 'flipped.sig'), other);
    expect(r2.code).not.toBe(0);
  });

  it('Ed25519Verifier accepts an openssl signature and rejects a flipped byte, a flipped signature, another key', async () => {
    const data = inputs[2]?.[1] as Uint8Array;
    const dataFile = path.join(dir, 'v.bin');
    await fs.writeFile(dataFile, data);
    const s = await opensslSign(dataFile, path.join(dir, 'v.sig'));
    expect(s.code, s.stderr).toBe(0);
    const sig = new Uint8Array(await fs.readFile(path.join(dir, 'v.sig')));
    const v = new Ed25519Verifier([publicKey]);
    expect(await v.verify(data, [sig])).toEqual({ valid: true, keyId: b64(publicKey) });

    const flippedData = new Uint8Array(data);
    flippedData[0] = (flippedData[0] as number) ^ 0x80;
    expect((await v.verify(flippedData, [sig])).valid).toBe(false);
    const flippedSig = new Uint8Array(sig);
    flippedSig[63] = (flippedSig[63] as number) ^ 0x01;
    expect((await v.verify(data, [flippedSig])).valid).toBe(false);
    expect((await new Ed25519Verifier([new Uint8Array(32).fill(9)]).verify(data, [sig])).valid).toBe(false);
    // In order, as ostree 2022.7 checks (ostree-sign-ed25519.c at v2022.7): a bad signature is passed over, a good
    // one ends the check, and one of the wrong length ends it as a failure, even with a good one after it.
    expect((await v.verify(data, [flippedSig, sig, sig.subarray(0, 10)])).valid).toBe(true);
    const malformedFirst = await v.verify(data, [flippedSig, sig.subarray(0, 10), sig]);
    expect(malformedFirst).toMatchObject({ valid: false });
    expect(malformedFirst.reason).toContain('ed25519 signature 2 of 3 has 10 bytes, not 64');
    expect((await v.verify(data, [flippedSig])).reason).toBe('1 signature(s), none valid for the 1 trusted key(s)');
    expect(await new Ed25519Verifier([]).verify(data, [sig])).toMatchObject({
      valid: false,
      reason: 'no trusted ed25519 key',
    });
    expect(await v.verify(data, [])).toMatchObject({ valid: false, reason: 'no ed25519 signature' });
  });
});
