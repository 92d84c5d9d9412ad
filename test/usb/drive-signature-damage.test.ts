/**
 * A damaged summary.sig (a file that does not decode as the detached metadata ostree writes): verify reports it
 * with or without --drive-key (a client holding the key would refuse the drive), and a create given --sign-key
 * says the old signature was unreadable, not that it was made with another key; `list` does not call such a drive
 * signed. Uses the bundled example repo.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it, vi } from 'vitest';
import { listCommand } from '../../src/cli/commands/list.js';
import { listRepoJson } from '../../src/cli/json.js';
import { encodeDetached, generateKeyPair } from '../../src/sign/index.js';
import { listDrive } from '../../src/usb/list.js';
import { verifyDrive } from '../../src/usb/verify.js';
import type { Warning } from '../../src/warnings.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

it('a summary.sig that does not decode fails verify, keys given or not, and create re-signs it saying so', async () => {
  const drive = await tempDir('sideload-sig-damage-');
  const key = generateKeyPair();
  await createExampleDrive(drive, { signKey: key.secretKey });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
  expect((await verifyDrive(drive)).ok).toBe(true);
  await fs.truncate(sig, 20);

  for (const opts of [{}, { trustedKeys: [key.publicKey] }]) {
    const r = await verifyDrive(drive, opts);
    expect(r.ok).toBe(false);
    const errs = r.repos.flatMap((x) => x.findings).filter((f) => f.severity === 'error');
    expect(errs).toEqual([expect.objectContaining({ code: 'corrupt-summary-signature', path: 'summary.sig' })]);
    expect(errs[0]?.message).toMatch(/^summary\.sig does not decode as signatures \(.+\): a client .* refuses/);
  }

  const warnings: Warning[] = [];
  await createExampleDrive(drive, { signKey: key.secretKey, onWarning: (w) => warnings.push(w) });
  expect(warnings.map((w) => w.code)).toEqual(['drive-key-changed']);
  expect(warnings[0]?.message).toMatch(/^the drive's summary\.sig does not decode \(damaged\): this run signs/);
  expect(warnings[0]?.message).not.toMatch(/another key/);
  const after = await verifyDrive(drive, { trustedKeys: [key.publicKey] });
  expect(after.repos.flatMap((x) => x.findings).filter((f) => f.severity === 'error')).toEqual([]);
});

it('a summary.sig that decodes but holds no signature fails verify, keys given or not, and create says so', async () => {
  const drive = await tempDir('sideload-sig-empty-');
  const key = generateKeyPair();
  await createExampleDrive(drive, { signKey: key.secretKey });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
  // What ostree writes, minus the signatures: an empty a{sv}, and one with only a key no verifier reads.
  const emptyDicts = [encodeDetached([]), encodeDetached([['ostree.sign.spki', [new Uint8Array(64).fill(7)]]])];
  for (const bytes of emptyDicts) {
    await fs.writeFile(sig, bytes);
    for (const opts of [{}, { trustedKeys: [key.publicKey] }]) {
      const r = await verifyDrive(drive, opts);
      expect(r.ok).toBe(false);
      const found = r.repos.flatMap((x) => x.findings);
      expect(found.filter((f) => f.severity === 'error')).toEqual([
        expect.objectContaining({ code: 'empty-summary-signature', path: 'summary.sig' }),
      ]);
      expect(found.map((f) => f.code)).not.toContain('signature-not-checked');
      expect(found.find((f) => f.severity === 'error')?.message).toMatch(
        /^summary\.sig holds no signature \(no ostree\.sign\.ed25519, no ostree\.gpgsigs\): .* refuses it/,
      );
    }
  }

  const warnings: Warning[] = [];
  await createExampleDrive(drive, { signKey: key.secretKey, onWarning: (w) => warnings.push(w) });
  expect(warnings.map((w) => w.code)).toEqual(['drive-key-changed']);
  expect(warnings[0]?.message).toMatch(/^the drive's summary\.sig holds no signature \(no ed25519, no GPG\): this run/);
  expect(warnings[0]?.message).not.toMatch(/another key/);
  const after = await verifyDrive(drive, { trustedKeys: [key.publicKey] });
  expect(after.repos.flatMap((x) => x.findings).filter((f) => f.severity === 'error')).toEqual([]);
});

it('list reads summary.sig: an empty, undecodable or unreadable one is not shown as a signature, in JSON or text', async () => {
  const drive = await tempDir('sideload-sig-list-');
  await createExampleDrive(drive, { signKey: generateKeyPair().secretKey });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
  const human = async (): Promise<string> => {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    try {
      const handler = listCommand(() => undefined).handler as (a: object) => Promise<void>;
      await handler({ drive, json: false, quiet: false });
      return out.mock.calls.map((c) => String(c[0])).join('');
    } finally {
      out.mockRestore();
    }
  };
  const cases: Array<[string, () => Promise<void>, string, RegExp]> = [
    ['signed', async () => undefined, 'present', /\(summary\.sig present, unchecked: sideload verify checks it\)/],
    ['truncated', () => fs.truncate(sig, 20), 'damaged', /\(summary\.sig damaged, it does not decode: sideload verify/],
    ['empty dict', () => fs.writeFile(sig, encodeDetached([])), 'empty', /\(summary\.sig holds no signature: unsigned/],
    ['zero bytes', () => fs.writeFile(sig, ''), 'empty', /\(summary\.sig holds no signature/],
    ['symlink', () => fs.rm(sig).then(() => fs.symlink('/dev/zero', sig)), 'damaged', /\(summary\.sig damaged/],
    ['removed', () => fs.rm(sig), 'absent', /^\S+repo, updated /],
  ];
  // One table of what list says, against what it should say: a failure shows every case.
  const seen = [];
  const expected = [];
  for (const [what, damage, kind, text] of cases) {
    await damage();
    const [repo] = await listDrive(drive);
    const line = (await human()).split('\n')[0] ?? '';
    seen.push([what, repo?.signed, listRepoJson(repo as NonNullable<typeof repo>).summarySignature, text.test(line)]);
    expected.push([what, kind === 'present', kind, true]);
  }
  expect(seen).toEqual(expected);
});
