/**
 * GPG (format.md §7.1): GpgVerifier against signatures made by gpg itself with throwaway keys, and the keyring
 * shapes it meets: `gpg --export` (binary and armored), several keys in one file, and flatpak's
 * `<remote>.trustedkeys.gpg` with GnuPG trust packets.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { GpgVerifier } from '../../src/sign/index.js';
import { describeInterop, flatpakEnv, remoteAdd, runOk, tempDir } from '../helpers/flatpak-fixtures.js';

interface Key {
  home: string;
  fpr: string;
  /** `gpg --export` (binary). */
  exported: Uint8Array;
}

const gpg = (home: string, args: readonly string[]) =>
  runOk('gpg', ['--homedir', home, '--batch', '--quiet', '--pinentry-mode', 'loopback', '--passphrase', '', ...args]);

async function makeKey(name: string, algo: string): Promise<Key> {
  const home = await tempDir(`sideload-gpg-${name}-`);
  await fs.chmod(home, 0o700);
  await gpg(home, ['--quick-gen-key', `${name} <${name}@example.invalid>`, algo, 'sign', 'never']);
  const fpr = primaryFingerprint(await gpg(home, ['--list-keys', '--with-colons']));
  const exported = new Uint8Array(
    Buffer.from(
      await runOk('sh', ['-c', `gpg --homedir "$0" --batch --export "$1" | base64 -w0`, home, fpr]),
      'base64',
    ),
  );
  return { home, fpr, exported };
}

function primaryFingerprint(colons: string): string {
  const lines = colons.split('\n');
  const pub = lines.findIndex((l) => l.startsWith('pub:'));
  const fpr = lines.slice(pub).find((l) => l.startsWith('fpr:'));
  if (pub < 0 || !fpr) throw new Error(`no primary key in:\n${colons}`);
  return fpr.split(':')[9] as string;
}

/** `gpg --detach-sign` (binary, the form ostree stores in `ostree.gpgsigs`) of `data`. */
async function detachSign(key: Key, data: Uint8Array, signer = key.fpr): Promise<Uint8Array> {
  const dir = await tempDir('sideload-gpgsig-');
  await fs.writeFile(path.join(dir, 'data'), data);
  await gpg(key.home, [
    '--local-user',
    `${signer}!`,
    '--output',
    path.join(dir, 'data.sig'),
    '--detach-sign',
    path.join(dir, 'data'),
  ]);
  const sig = new Uint8Array(await fs.readFile(path.join(dir, 'data.sig')));
  expect((sig[0] as number) & 0x80, 'a binary OpenPGP packet, not armor').toBe(0x80);
  // gpg itself accepts the signature over the bytes we will hand to GpgVerifier.
  await gpg(key.home, ['--verify', path.join(dir, 'data.sig'), path.join(dir, 'data')]);
  return sig;
}

/** Packet tags of a binary OpenPGP stream, as `gpg --list-packets` names them. */
async function packetKinds(file: string): Promise<string[]> {
  const home = await tempDir('sideload-gpg-list-');
  await fs.chmod(home, 0o700);
  const out = await runOk('gpg', ['--homedir', home, '--batch', '--list-packets', file]);
  return [...out.matchAll(/^:([a-z ]+) packet:/gm)].map((m) => m[1] as string);
}

describeInterop('GpgVerifier against gpg', () => {
  let a: Key; // ed25519, signs with the primary key
  let b: Key; // RSA (as Flathub's key), a second, untrusted signer
  let data: Uint8Array;
  let sigA: Uint8Array;
  let sigB: Uint8Array;

  beforeAll(async () => {
    [a, b] = await Promise.all([makeKey('alice', 'ed25519'), makeKey('bob', 'rsa2048')]);
    data = new Uint8Array(Buffer.from('summary bytes \0\x01\x02 as ostree signs them\n'.repeat(50), 'latin1'));
    [sigA, sigB] = await Promise.all([detachSign(a, data), detachSign(b, data)]);
  });

  it('accepts a gpg --detach-sign signature with the gpg --export keyring, naming the key by fingerprint', async () => {
    const v = await GpgVerifier.fromKeyrings([a.exported]);
    expect(v.fingerprints()).toEqual([a.fpr]);
    expect(await v.verify(data, [sigA])).toMatchObject({ valid: true, keyId: a.fpr });
  });

  it('rejects the signature over the data with one flipped byte', async () => {
    const v = await GpgVerifier.fromKeyrings([a.exported]);
    for (const at of [0, data.length >> 1, data.length - 1]) {
      const flipped = new Uint8Array(data);
      flipped[at] = (flipped[at] as number) ^ 0x01;
      const r = await v.verify(flipped, [sigA]);
      expect(r.valid, `byte ${at}`).toBe(false);
      expect(r.reason).toBeTruthy();
    }
  });

  it('rejects a signature with a flipped byte, and garbage, without throwing', async () => {
    const v = await GpgVerifier.fromKeyrings([a.exported]);
    const bad = new Uint8Array(sigA);
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0x01;
    expect((await v.verify(data, [bad])).valid).toBe(false);
    expect((await v.verify(data, [new Uint8Array([1, 2, 3])])).valid).toBe(false);
    expect(await v.verify(data, [])).toMatchObject({ valid: false, reason: 'no GPG signature' });
  });

  it('rejects a signature made with another key', async () => {
    const r = await (await GpgVerifier.fromKeyrings([a.exported])).verify(data, [sigB]);
    expect(r.valid).toBe(false);
    expect((await (await GpgVerifier.fromKeyrings([b.exported])).verify(data, [sigA])).valid).toBe(false);
    expect(await (await GpgVerifier.fromKeyrings([])).verify(data, [sigA])).toMatchObject({
      valid: false,
      reason: 'no trusted GPG key',
    });
  });

  it('checks RSA signatures too (Flathub signs with RSA)', async () => {
    expect(await (await GpgVerifier.fromKeyrings([b.exported])).verify(data, [sigB])).toMatchObject({
      valid: true,
      keyId: b.fpr,
    });
  });

  it('any good signature among several verifies (ostree concatenates them), and a two-key keyring file works', async () => {
    const both = new Uint8Array(Buffer.concat([a.exported, b.exported]));
    const v = await GpgVerifier.fromKeyrings([both]);
    expect(v.fingerprints().sort()).toEqual([a.fpr, b.fpr].sort());
    expect(await v.verify(data, [sigB])).toMatchObject({ valid: true, keyId: b.fpr });
    const bad = new Uint8Array(sigA);
    bad[bad.length - 5] = (bad[bad.length - 5] as number) ^ 0x01;
    expect(await (await GpgVerifier.fromKeyrings([a.exported])).verify(data, [sigB, bad, sigA])).toMatchObject({
      valid: true,
      keyId: a.fpr,
    });
  });

  it('loads an armored export (gpg --export --armor)', async () => {
    const armored = await gpg(a.home, ['--export', '--armor', a.fpr]);
    expect(armored).toContain('-----BEGIN PGP PUBLIC KEY BLOCK-----');
    const v = await GpgVerifier.fromKeyrings([new Uint8Array(Buffer.from(armored))]);
    expect(await v.verify(data, [sigA])).toMatchObject({ valid: true, keyId: a.fpr });
  });

  it('a signature by a signing subkey verifies and names the primary key', async () => {
    const home = await tempDir('sideload-gpg-sub-');
    await fs.chmod(home, 0o700);
    await gpg(home, ['--quick-gen-key', 'carol <carol@example.invalid>', 'ed25519', 'cert', 'never']);
    const colons0 = await gpg(home, ['--list-keys', '--with-colons']);
    const fpr = primaryFingerprint(colons0);
    await gpg(home, ['--quick-add-key', fpr, 'ed25519', 'sign', 'never']);
    const fprs = [...(await gpg(home, ['--list-keys', '--with-colons'])).matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map(
      (m) => m[1] as string,
    );
    const sub = fprs.find((f) => f !== fpr) as string;
    expect(sub).toBeTruthy();
    const exported = new Uint8Array(
      Buffer.from(
        await runOk('sh', ['-c', `gpg --homedir "$0" --batch --export "$1" | base64 -w0`, home, fpr]),
        'base64',
      ),
    );
    const sig = await detachSign({ home, fpr, exported }, data, sub);
    expect(await (await GpgVerifier.fromKeyrings([exported])).verify(data, [sig])).toMatchObject({
      valid: true,
      keyId: fpr,
    });
  });

  it('a pass holds from the signature to the first expiry gpg set: the signing subkey before the primary', async () => {
    const home = await tempDir('sideload-gpg-exp-');
    await fs.chmod(home, 0o700);
    await gpg(home, ['--quick-gen-key', 'dave <dave@example.invalid>', 'ed25519', 'cert', '2y']);
    const fpr = primaryFingerprint(await gpg(home, ['--list-keys', '--with-colons']));
    await gpg(home, ['--quick-add-key', fpr, 'ed25519', 'sign', '1y']);
    const colons = await gpg(home, ['--list-keys', '--with-colons']);
    const expiry = (kind: string) =>
      Number(
        colons
          .split('\n')
          .find((l) => l.startsWith(`${kind}:`))
          ?.split(':')[6],
      );
    expect(expiry('sub')).toBeLessThan(expiry('pub'));
    const sub = [...colons.matchAll(/^fpr:+([0-9A-F]{40}):/gm)].map((m) => m[1] as string).find((f) => f !== fpr);
    const exported = new Uint8Array(
      Buffer.from(
        await runOk('sh', ['-c', `gpg --homedir "$0" --batch --export "$1" | base64 -w0`, home, fpr]),
        'base64',
      ),
    );
    const before = Math.floor(Date.now() / 1000) * 1000;
    const sig = await detachSign({ home, fpr, exported }, data, sub);
    const r = await (await GpgVerifier.fromKeyrings([exported])).verify(data, [sig]);
    expect(r).toMatchObject({ valid: true, keyId: fpr, window: { notAfter: expiry('sub') * 1000 } });
    expect(r.window?.notBefore).toBeGreaterThanOrEqual(before);
    expect(r.window?.notBefore).toBeLessThanOrEqual(Date.now());
  });

  it('refuses a signature whose key has expired since it signed, as gpg (EXPKEYSIG) and so ostree do', async () => {
    const home = await tempDir('sideload-gpg-expired-');
    await fs.chmod(home, 0o700);
    const then = Math.floor(Date.now() / 1000) - 3 * 86_400;
    const at = (t: number) => ['--faked-system-time', String(t)];
    await gpg(home, [...at(then), '--quick-gen-key', 'erin <erin@example.invalid>', 'ed25519', 'sign', '1d']);
    const fpr = primaryFingerprint(await gpg(home, ['--list-keys', '--with-colons']));
    const exported = new Uint8Array(
      Buffer.from(
        await runOk('sh', ['-c', `gpg --homedir "$0" --batch --export "$1" | base64 -w0`, home, fpr]),
        'base64',
      ),
    );
    const dir = await tempDir('sideload-gpgsig-');
    await fs.writeFile(path.join(dir, 'data'), data);
    const sigFile = path.join(dir, 'data.sig');
    await gpg(home, [
      ...at(then + 3600),
      '--local-user',
      `${fpr}!`,
      '--output',
      sigFile,
      '--detach-sign',
      path.join(dir, 'data'),
    ]);
    // gpg, now: a good signature by an expired key (gpgme's KEY_EXPIRED, which ostree counts as not valid).
    const status = await runOk('sh', [
      '-c',
      'gpg --homedir "$0" --batch --status-fd 1 --verify "$1" "$2" || true',
      home,
      sigFile,
      path.join(dir, 'data'),
    ]);
    expect(status).toContain(`[GNUPG:] EXPKEYSIG`);
    const r = await (
      await GpgVerifier.fromKeyrings([exported])
    ).verify(data, [new Uint8Array(await fs.readFile(sigFile))]);
    expect(r).toMatchObject({
      valid: false,
      reason: expect.stringMatching(new RegExp(`key ${fpr} expired on`)) as unknown,
    });
  });

  it("loads flatpak's <remote>.trustedkeys.gpg (with GnuPG trust packets) and verifies with it", async () => {
    const f = await flatpakEnv();
    const keyFile = path.join(f.root, 'alice.gpg');
    await fs.writeFile(keyFile, a.exported);
    // The URL does not resolve: remote-add warns about the metadata it cannot fetch but writes the keyring.
    await remoteAdd(f, 'example', 'http://example.invalid/repo/', keyFile);
    const trusted = path.join(f.userDir, 'repo', 'example.trustedkeys.gpg');
    const kinds = await packetKinds(trusted);
    expect(kinds).toContain('trust');
    expect(kinds).toContain('public key');
    const bytes = new Uint8Array(await fs.readFile(trusted));
    expect(bytes).not.toEqual(a.exported); // not just the export: the keyring flatpak keeps
    const v = await GpgVerifier.fromKeyrings([bytes]);
    expect(v.fingerprints()).toEqual([a.fpr]);
    expect(await v.verify(data, [sigA])).toMatchObject({ valid: true, keyId: a.fpr });
    expect((await v.verify(data, [sigB])).valid).toBe(false);
    // With a second keyring (the upstream's own export) both signers are trusted.
    expect(await (await GpgVerifier.fromKeyrings([bytes, b.exported])).verify(data, [sigB])).toMatchObject({
      valid: true,
      keyId: b.fpr,
    });
  });

  it('a keyring that does not parse is an error naming which one', async () => {
    await expect(GpgVerifier.fromKeyrings([a.exported, new Uint8Array([0x99, 0x00, 0x05, 1, 2])])).rejects.toThrow(
      /keyring #2/,
    );
  });
});
