/**
 * ed25519 (format.md §7.2): key loading and the detached-metadata encoding. ed25519.interop.test.ts checks
 * `sideload keygen`'s files and our signatures against an independent implementation (the openssl CLI).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import {
  appendSignatures,
  Ed25519Signer,
  decodeDetached,
  encodeDetached,
  loadPublicKeys,
  loadSecretKey,
  readSignatures,
} from '../../src/sign/index.js';

const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe('ed25519 key loading', () => {
  const seed = new Uint8Array(32).fill(7);
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const pub = new Uint8Array(createPublicKey(priv).export({ format: 'der', type: 'spki' }).subarray(12));
  const secret = new Uint8Array([...seed, ...pub]);

  it('accepts a 32-byte seed and expands it to seed ‖ public', () => {
    expect(loadSecretKey(b64(seed), 'k')).toEqual(secret);
    expect(loadSecretKey(`# comment\n\n${b64(secret)}\n`, 'k')).toEqual(secret);
  });

  it('a signer refuses a secret key whose public half does not belong to its seed (a library caller)', () => {
    const a = loadSecretKey(b64(new Uint8Array(32).fill(1)), 'a');
    const b = loadSecretKey(b64(new Uint8Array(32).fill(2)), 'b');
    expect(() => new Ed25519Signer(a)).not.toThrow();
    const mixed = new Uint8Array([...a.subarray(0, 32), ...b.subarray(32)]);
    expect(() => new Ed25519Signer(mixed)).toThrow(/public half does not match its seed/);
  });

  it('refuses a secret key whose public half does not belong to its seed', () => {
    const bad = new Uint8Array(secret);
    bad[40] = (bad[40] as number) ^ 1;
    expect(() => loadSecretKey(b64(bad), 'bad.key')).toThrow(/public half does not match/);
  });

  it('refuses keys of the wrong length, non-base64 text, two secret keys and empty files, naming the file', () => {
    expect(() => loadSecretKey(b64(new Uint8Array(48)), 'x.key')).toThrow(/x\.key.*48 bytes; expected 64/);
    expect(() => loadSecretKey(`${b64(secret)}\n${b64(secret)}\n`, 'two.key')).toThrow(/two\.key.*2 lines/);
    expect(() => loadPublicKeys(b64(secret), 'p.pub')).toThrow(/p\.pub.*64 bytes; expected 32/);
    expect(() => loadPublicKeys('not*base64\n', 'q.pub')).toThrow(UsageError);
    expect(() => loadPublicKeys('\n# nothing\n', 'e.pub')).toThrow(/e\.pub: no ed25519 public key/);
  });

  it('reads several public keys, one per line', () => {
    const other = new Uint8Array(32).fill(1);
    expect(loadPublicKeys(`${b64(pub)}\n${b64(other)}\n`, 'k')).toEqual([pub, other]);
  });
});

describe('detached metadata (summary.sig, .commitmeta)', () => {
  it('encodes the 3-byte dummy signature example of format.md §7.1 byte for byte', () => {
    const bytes = encodeDetached([['ostree.gpgsigs', [new Uint8Array([0xaa, 0xbb, 0xcc])]]]);
    expect(Buffer.from(bytes).toString('hex')).toBe(
      Buffer.concat([Buffer.from('ostree.gpgsigs\0', 'latin1'), Buffer.from('00aabbcc03006161790f19', 'hex')]).toString(
        'hex',
      ),
    );
    expect(bytes.length).toBe(26);
    expect(readSignatures(bytes, 'ostree.gpgsigs')).toEqual([new Uint8Array([0xaa, 0xbb, 0xcc])]);
    expect(readSignatures(bytes, 'ostree.sign.ed25519')).toEqual([]);
  });

  it('appends signatures as ostree does: other keys kept, the array extended', () => {
    const a = new Uint8Array(64).fill(1);
    const b = new Uint8Array(64).fill(2);
    const gpg = encodeDetached([['ostree.gpgsigs', [new Uint8Array([1, 2, 3])]]]);
    const both = appendSignatures(appendSignatures(gpg, 'ostree.sign.ed25519', [a]), 'ostree.sign.ed25519', [b]);
    expect(readSignatures(both, 'ostree.sign.ed25519')).toEqual([a, b]);
    expect(readSignatures(both, 'ostree.gpgsigs')).toEqual([new Uint8Array([1, 2, 3])]);
    expect(decodeDetached(both).map(([k]) => k)).toEqual(['ostree.gpgsigs', 'ostree.sign.ed25519']);
  });

  it('a malformed signature file yields no signatures instead of throwing', () => {
    const bytes = encodeDetached([['ostree.sign.ed25519', [new Uint8Array(64)]]]);
    expect(readSignatures(bytes.subarray(0, bytes.length - 3), 'ostree.sign.ed25519')).toEqual([]);
    expect(readSignatures(new Uint8Array(0), 'ostree.sign.ed25519')).toEqual([]);
  });
});
