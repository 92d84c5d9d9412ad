/**
 * A damaged summary.sig (a file that does not decode as the detached metadata ostree writes): verify reports it
 * with or without --drive-key (a client holding the key would refuse the drive), and a create given --sign-key
 * says the old signature was unreadable, not that it was made with another key (and one given neither --sign-key
 * nor --unsigned says what the file holds); `list` does not call such a drive signed, nor a commit whose .commitmeta is damaged or empty. Uses the bundled example repo.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it, vi } from 'vitest';
import { MAX_METADATA_SIZE } from '../../src/repo/archive-source.js';
import { UsageError } from '../../src/errors.js';
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

it('a summary.sig that cannot be read (a symlink, not followed) is called damaged by create, not another key', async () => {
  const drive = await tempDir('sideload-sig-link-');
  const key = generateKeyPair();
  await createExampleDrive(drive, { signKey: key.secretKey });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
  await fs.rm(sig);
  await fs.symlink('/dev/zero', sig);
  const warnings: Warning[] = [];
  await createExampleDrive(drive, { signKey: key.secretKey, onWarning: (w) => warnings.push(w) });
  expect(warnings.map((w) => w.code)).toEqual(['drive-key-changed']);
  expect(warnings[0]?.message).toMatch(/^the drive's summary\.sig does not decode \(damaged\): this run signs/);
  expect((await fs.lstat(sig)).isFile()).toBe(true);
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

it('a create without --sign-key or --unsigned on a drive whose summary.sig signs nothing says what the file holds', async () => {
  const drive = await tempDir('sideload-sig-choice-');
  const key = generateKeyPair();
  // Only the runtime at first, so that adding the app has something to publish.
  await createExampleDrive(drive, { signKey: key.secretKey, refs: ['org.example.Platform'] });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
  const signed = await fs.readFile(sig);
  const choice =
    `(${sig}): pass --sign-key to write a valid signature of the summary, or --unsigned to remove summary.sig and ` +
    'publish the summary without a signature';
  const cases: Array<[string, Uint8Array | string, string]> = [
    [
      'signed',
      signed,
      `the drive's summary is signed (${sig}): pass --sign-key with its key to keep it signed, or --unsigned to publish it without a signature`,
    ],
    ['empty dict', encodeDetached([]), `the drive's summary.sig holds no signature (no ed25519, no GPG) ${choice}`],
    ['zero bytes', '', `the drive's summary.sig holds no signature (no ed25519, no GPG) ${choice}`],
    ['truncated', signed.subarray(0, 20), `the drive's summary.sig does not decode (damaged) ${choice}`],
    ['garbage', 'garbage!!', `the drive's summary.sig does not decode (damaged) ${choice}`],
  ];
  const seen = [];
  const expected = [];
  for (const [what, bytes, message] of cases) {
    await fs.writeFile(sig, bytes);
    for (const dryRun of [true, false]) {
      const e = await createExampleDrive(drive, { refs: ['org.example.App'], dryRun }).then(
        () => null,
        (x: unknown) => x,
      );
      seen.push([what, dryRun, e instanceof UsageError, (e as Error | null)?.message]);
      expected.push([what, dryRun, true, message]);
    }
    // Refused before writing: the file is as it was.
    expect(Buffer.from(await fs.readFile(sig)).equals(Buffer.from(bytes)), what).toBe(true);
  }
  expect(seen).toEqual(expected);
  // What the message says --unsigned does (--sign-key re-signing such a file: the tests above).
  await createExampleDrive(drive, { refs: ['org.example.App'], unsigned: true });
  await expect(fs.lstat(sig)).rejects.toThrow(/ENOENT/);
  expect((await verifyDrive(drive)).ok).toBe(true);
});

it('list reads summary.sig: an empty, undecodable or unreadable one is not shown as a signature, in JSON or text', async () => {
  const drive = await tempDir('sideload-sig-list-');
  await createExampleDrive(drive, { signKey: generateKeyPair().secretKey });
  const sig = path.join(drive, '.ostree/repo/summary.sig');
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
    const line = (await human(drive)).split('\n')[0] ?? '';
    seen.push([what, repo?.signed, listRepoJson(repo as NonNullable<typeof repo>).summarySignature, text.test(line)]);
    expected.push([what, kind === 'present', kind, true]);
  }
  expect(seen).toEqual(expected);
});

it("list reads each commit's .commitmeta: an empty, truncated or unreadable one is not shown as a signature", async () => {
  const drive = await tempDir('sideload-commitmeta-list-');
  await createExampleDrive(drive);
  const [first] = await listDrive(drive);
  const app = first?.collections[0]?.refs.find((r) => r.ref.startsWith('app/'));
  if (!app) throw new Error('no app ref listed');
  const meta = path.join(drive, '.ostree/repo/objects', app.commit.slice(0, 2), `${app.commit.slice(2)}.commitmeta`);
  const signedBytes = await fs.readFile(meta);
  const cases: Array<[string, () => Promise<void>, string, string]> = [
    ['signed', async () => undefined, 'present', ' (signature present)'],
    ['truncated', () => fs.truncate(meta, 5), 'damaged', ' (.commitmeta damaged, it does not decode: sideload verify'],
    ['empty dict', () => fs.writeFile(meta, encodeDetached([])), 'empty', ' (.commitmeta holds no signature'],
    ['zero bytes', () => fs.writeFile(meta, ''), 'empty', ' (.commitmeta holds no signature'],
    ['too large', () => fs.truncate(meta, MAX_METADATA_SIZE + 1), 'damaged', ' (.commitmeta damaged'],
    ['symlink', () => fs.rm(meta).then(() => fs.symlink('/dev/zero', meta)), 'damaged', ' (.commitmeta damaged'],
    ['removed', () => fs.rm(meta), 'absent', `${app.commit.slice(0, 12)} `],
    ['restored', () => fs.writeFile(meta, signedBytes), 'present', ' (signature present)'],
  ];
  const seen = [];
  const expected = [];
  for (const [what, damage, kind, note] of cases) {
    await damage();
    const [repo] = await listDrive(drive);
    const ref = repo?.collections[0]?.refs.find((r) => r.ref === app.ref);
    const jsonRefs = listRepoJson(repo as NonNullable<typeof repo>).collections[0]?.refs ?? [];
    const json = jsonRefs.find((r) => r.ref === app.ref);
    const line = (await human(drive)).split('\n').find((l) => l.includes(app.ref)) ?? '';
    // Only the one commit is touched: every other ref's .commitmeta still holds its GPG signature.
    const others = new Set(jsonRefs.filter((r) => r.ref !== app.ref).map((r) => r.commitSignature));
    seen.push([
      what,
      ref?.signed,
      json?.commitSignature,
      line.includes(note),
      kind === 'absent' ? !/\(/.test(line) : true,
      [...others],
    ]);
    expected.push([what, kind === 'present', kind, true, true, ['present']]);
  }
  expect(seen).toEqual(expected);
});

/** What `sideload list <drive>` prints as text. */
async function human(drive: string): Promise<string> {
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    const handler = listCommand(() => undefined).handler as (a: object) => Promise<void>;
    await handler({ drive, json: false, quiet: false });
    return out.mock.calls.map((c) => String(c[0])).join('');
  } finally {
    out.mockRestore();
  }
}
