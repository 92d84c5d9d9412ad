/**
 * verifyOne (usb/upstream.ts) keeps the verdicts it reached in this process, so a run does not check the same
 * upstream files again: the verdict must still depend on the keys, and never outlive a failure.
 */
import { describe, expect, it } from 'vitest';
import { SignatureError } from '../../src/errors.js';
import { KEY } from '../../src/ostree/formats.js';
import { Ed25519Signer, encodeDetached, generateKeyPair } from '../../src/sign/index.js';
import { verifyOne } from '../../src/usb/upstream.js';

describe('verifyOne, checked again in the same process', () => {
  it('gives the same verdict for the same keys, and checks again for other keys', async () => {
    const good = generateKeyPair();
    const other = generateKeyPair();
    const data = new TextEncoder().encode('a summary');
    const sig = encodeDetached([[KEY.ed25519Sigs, [await new Ed25519Signer(good.secretKey).sign(data)]]]);
    const trusted = { gpg: [], ed25519: [good.publicKey] };
    const first = await verifyOne(data, sig, trusted, 'summary');
    expect(first).toEqual({ signedBy: ['ed25519'], keys: [expect.any(String)], present: true });
    first.signedBy.push('changed by the caller');
    // An equal key set in another object: the same verdict, not the caller's changed copy.
    expect(await verifyOne(data, sig, { gpg: [], ed25519: [new Uint8Array(good.publicKey)] }, 'summary')).toEqual({
      signedBy: ['ed25519'],
      keys: first.keys,
      present: true,
    });
    // The same buffers under keys that do not sign them: refused, whatever was verified before.
    await expect(verifyOne(data, sig, { gpg: [], ed25519: [other.publicKey] }, 'summary')).rejects.toThrow(
      SignatureError,
    );
    // A failure is not kept: the right keys still verify.
    expect((await verifyOne(data, sig, trusted, 'summary')).signedBy).toEqual(['ed25519']);
  });

  it('checks other bytes under the same signature file on their own', async () => {
    const key = generateKeyPair();
    const data = new TextEncoder().encode('a summary');
    const sig = encodeDetached([[KEY.ed25519Sigs, [await new Ed25519Signer(key.secretKey).sign(data)]]]);
    const trusted = { gpg: [], ed25519: [key.publicKey] };
    await verifyOne(data, sig, trusted, 'summary');
    await expect(verifyOne(new TextEncoder().encode('another summary'), sig, trusted, 'summary')).rejects.toThrow(
      /summary: signature does not verify/,
    );
  });
});
