/**
 * verify checks what a drive hands the receiving machine: its `<collection>.flatpakrepo`, from which the README has
 * clients make the remote. A file flatpak would refuse, one for another collection, a key the given upstream keys
 * do not name, or a key that did not sign the drive's commits are errors naming the file; a drive without the file
 * is not faulted. Uses the bundled example repo (no tools needed).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import * as openpgp from 'openpgp';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { verifyDrive, type Finding } from '../../src/usb/verify.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';
import { projectRoot } from '../helpers/shared.js';

const NAME = 'org.example.Stable.flatpakrepo';
let drive: string;
let file: string;
let good: string;
let exampleKey: Uint8Array;
let otherKey: Uint8Array;

beforeAll(async () => {
  drive = await tempDir('sideload-verify-guide-');
  await createExampleDrive(drive);
  file = path.join(drive, NAME);
  good = await fs.readFile(file, 'utf8');
  exampleKey = new Uint8Array(await fs.readFile(path.join(projectRoot, 'examples/example.gpg')));
  const k = await openpgp.generateKey({
    type: 'ecc',
    curve: 'ed25519Legacy',
    userIDs: [{ name: 'other' }],
    format: 'binary',
  });
  otherKey = k.publicKey;
});
afterEach(async () => {
  await fs.rm(file, { force: true });
  await fs.writeFile(file, good);
});

async function guideFindings(opts: { keys?: boolean; at?: string } = {}): Promise<Finding[]> {
  const report = await verifyDrive(opts.at ?? drive, opts.keys ? { upstreamGpg: [exampleKey] } : {});
  return report.repos.flatMap((r) => r.findings).filter((f) => f.code.startsWith('flatpakrepo-'));
}
const withKey = (key: Uint8Array) => good.replace(/^GPGKey=.*$/m, `GPGKey=${Buffer.from(key).toString('base64')}`);

it('the .flatpakrepo sideload wrote passes, with and without upstream keys, from the drive or its repo path', async () => {
  expect(good).toMatch(/^DeploySideloadCollectionID=org\.example\.Stable$/m);
  expect(await guideFindings()).toEqual([]);
  expect(await guideFindings({ keys: true })).toEqual([]);
  expect(await guideFindings({ at: path.join(drive, '.ostree/repo') })).toEqual([]);
});

it('a key that did not sign the commits: every ref it cannot vouch for is named; a key the upstream keys lack is named', async () => {
  await fs.writeFile(file, withKey(otherKey));
  const other = (await openpgp.readKey({ binaryKey: otherKey })).getFingerprint().toUpperCase();
  const without = await guideFindings();
  expect(without).toHaveLength(1);
  expect(without[0]).toMatchObject({ severity: 'error', code: 'flatpakrepo-key-mismatch', path: `../../${NAME}` });
  expect(without[0]?.message).toMatch(
    new RegExp(
      `^the remote a client adds from '${NAME}' cannot vouch for these 7 refs, whose commits are signed by GPG key ` +
        `FD38FB9E391B5C65, not by the key that file hands out \\(${other}\\); flatpak 1\\.14 installs them into a ` +
        'user installation unchecked: app/org\\.example\\.App/x86_64/stable, ',
    ),
  );
  const withKeys = await guideFindings({ keys: true });
  expect(withKeys.map((f) => f.code)).toEqual(['flatpakrepo-untrusted-key', 'flatpakrepo-key-mismatch']);
  expect(withKeys[0]?.message).toBe(
    `'${NAME}' hands clients GPG key ${other}, which is not among the given upstream keys: a machine that adds the ` +
      'remote from it would trust that key',
  );
  // Both keys handed out: the commits verify, but a client would trust the extra key too.
  await fs.writeFile(file, withKey(new Uint8Array(Buffer.concat([exampleKey, otherKey]))));
  expect((await guideFindings({ keys: true })).map((f) => f.code)).toEqual(['flatpakrepo-untrusted-key']);
  expect(await guideFindings()).toEqual([]);
});

it('a file flatpak would refuse, or one for another collection, is flatpakrepo-invalid with the reason', async () => {
  const cases: Array<[string | null, RegExp]> = [
    ['garbage\n', /is not a \.flatpakrepo \(not a key file/],
    [good.replace('[Flatpak Repo]', '[Other]'), /no \[Flatpak Repo\] group/],
    [good.replace(/^Url=.*\n/m, ''), /\(no Url\)/],
    [good.replace(/^GPGKey=.*\n/m, ''), /collection ID 'org\.example\.Stable' without a GPGKey/],
    [good.replaceAll('=org.example.Stable', '=org.example.Other'), /names collection 'org\.example\.Other'/],
    [good.replace(/^GPGKey=.*$/m, 'GPGKey=AAAA'), /holds a GPGKey that is not an OpenPGP key/],
    [null, /is a symbolic link/],
  ];
  for (const [text, why] of cases) {
    await fs.rm(file);
    if (text === null) await fs.symlink('/etc/hostname', file);
    else await fs.writeFile(file, text);
    const f = await guideFindings();
    expect(
      f.map((x) => x.code),
      String(why),
    ).toEqual(['flatpakrepo-invalid']);
    expect(f[0]?.message).toMatch(why);
    expect(f[0]?.message).toMatch(/: a client cannot add the remote for 'org\.example\.Stable' from it$/);
  }
});

it('no .flatpakrepo (a flatpak create-usb drive), or one without key and collection ID: nothing to fault', async () => {
  await fs.rm(file);
  expect(await guideFindings()).toEqual([]);
  await fs.writeFile(file, good.replace(/^(GPGKey|Deploy\w*CollectionID)=.*\n/gm, ''));
  expect(await guideFindings()).toEqual([]);
});
