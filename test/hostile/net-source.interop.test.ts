/**
 * Source options against a served repo (issue 12): `--url` without `--collection-id` takes the collection ID the
 * remote's summaries name (refs were "offered by several collections ((none), org.example.Stable)"), `--from`
 * takes an http(s) URL of a .flatpakrepo, and a signed remote without (or with the wrong) key names the signing key
 * ID and how to supply it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createExampleApp,
  exampleCopy,
  hostileServer,
  runCli,
  type ExampleCopy,
  type HostileServer,
} from './net-helpers.js';

const CID = 'org.example.Stable';
const KEY_ID = 'FD38FB9E391B5C65';
let ex: ExampleCopy;
let server: HostileServer;

/** `sideload create -q --dry-run SOURCE… DRIVE org.example.App`. */
const dryRun = (source: string[], drive: string) =>
  runCli(['create', '-q', '--dry-run', ...source, drive, 'org.example.App']);
beforeAll(async () => {
  ex = await exampleCopy();
  server = await hostileServer(ex.repo);
});
afterAll(async () => {
  await server?.close();
});

describe('--url and --from', () => {
  it('--url without --collection-id uses the collection ID the summary names', async () => {
    const drive = await ex.freshDrive();
    const r = await runCli(
      ['create', '--json', '--no-fsync', '--url', server.url, '--gpg-import', ex.gpgKey, drive, 'org.example.App'],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { refs: Array<{ collectionId: string; ref: string }> };
    expect(new Set(out.refs.map((x) => x.collectionId))).toEqual(new Set([CID]));
    expect(out.refs.map((x) => x.ref)).toContain(
      'app/org.example.App/x86_64/stable'.replace('x86_64', out.refs[0]?.ref.split('/')[2] ?? 'x86_64'),
    );
    expect(r.ms).toBeLessThan(60_000);
  });

  it('--from takes an http:// URL of a .flatpakrepo (its Url, collection ID and GPGKey)', async () => {
    const key = (await fs.readFile(ex.gpgKey)).toString('base64');
    await fs.writeFile(
      path.join(ex.dir, 'repo', 'example.flatpakrepo'),
      `[Flatpak Repo]\nTitle=Example\nUrl=${server.url}/\nCollectionID=${CID}\nGPGKey=${key}\n`,
    );
    const drive = await ex.freshDrive();
    const r = await runCli(
      ['create', '-q', '--no-fsync', '--from', `${server.url}/example.flatpakrepo`, drive, 'org.example.App'],
      {},
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(server.log).toContain('repo/example.flatpakrepo');
    const missing = await dryRun(['--from', `${server.url}/nope.flatpakrepo`], drive);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`${server.url}/nope.flatpakrepo does not exist`);
  });
});

describe('signature errors say how to fix them', () => {
  it('a signed remote and no key: exit 5 naming the key ID and --gpg-import', async () => {
    const r = await dryRun(['--url', server.url], await ex.freshDrive());
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(
      `${server.url}/summary.idx: signature does not verify (signed with GPG key ID ${KEY_ID} but no trusted GPG key is known: pass --gpg-import KEYFILE with that key`,
    );
  });

  it('the wrong key: exit 5 naming the key ID, the trusted fingerprints and the fix', async () => {
    const home = path.join(ex.dir, 'gnupg');
    await fs.mkdir(home, { mode: 0o700 });
    execFileSync(
      'gpg',
      ['--homedir', home, '--batch', '--passphrase', '', '--quick-gen-key', 'other@example.invalid', 'ed25519', 'sign'],
      { stdio: 'ignore' },
    );
    const other = path.join(ex.dir, 'other.gpg');
    await fs.writeFile(other, execFileSync('gpg', ['--homedir', home, '--export']));
    const r = await dryRun(['--url', server.url, '--gpg-import', other], await ex.freshDrive());
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(
      new RegExp(
        `signed by GPG key ID ${KEY_ID}, which is not among the trusted keys \\([0-9A-F]{40}\\): pass --gpg-import KEYFILE`,
      ),
    );
    expect(r.stderr).not.toContain('Could not find signing key');
    // From a local repo the commits' signatures are checked first (main's CommitVerifier): the key ID is named too.
    const l = await createExampleApp(ex.repo, await ex.freshDrive(), ['--gpg-import', other]);
    expect(l.code, l.stderr).toBe(5);
    expect(l.stderr).toContain(`signed by GPG key ID ${KEY_ID}`);
  });
});
