/**
 * Key files are typed (issue 12): the CLI refuses a public key where a secret one is needed and the reverse, and
 * anything but OpenPGP key material for --gpg-import / --upstream-gpg, with exit 2 and the file and option named;
 * a missing key file is exit 3. Every option reads its file through src/sign/key-files.ts.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readGpgKeyFile, readPublicKeyFile, readSecretKeyFile } from '../../src/sign/key-files.js';
import { UsageError } from '../../src/errors.js';
import { createExampleApp, exampleCopy, runCli, type ExampleCopy } from '../hostile/net-helpers.js';

let ex: ExampleCopy;
let key: string;
let pub: string;
let drive: string;

beforeAll(async () => {
  ex = await exampleCopy();
  key = path.join(ex.dir, 'drive.key');
  pub = `${key}.pub`;
  const k = await runCli(['keygen', '-o', key]);
  expect(k.code, k.stderr).toBe(0);
  drive = path.join(ex.dir, 'drive');
  await fs.mkdir(drive);
});

describe('typed key files through the CLI', () => {
  it('create --sign-key with the .pub file: exit 2 naming it, nothing written (it used to sign with the public key as a seed)', async () => {
    const r = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey, '--sign-key', pub]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`'${pub}' (--sign-key) holds an ed25519 public key`);
    expect(r.stderr).toContain('sideload keygen');
    expect(await fs.readdir(drive)).toEqual([]);
  });

  it('the right keys make a signed drive that verify accepts with the .pub', async () => {
    const r = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey, '--sign-key', key]);
    expect(r.code, r.stderr).toBe(0);
    const v = await runCli(['verify', '--trusted-key', pub, '--upstream-gpg', ex.gpgKey, drive]);
    expect(v.code, v.stderr + v.stdout).toBe(0);
  });

  it("verify without a drive key: the signed summary's finding names --drive-key (not the hidden --trusted-key)", async () => {
    const v = await runCli(['verify', '--json', drive]);
    type Report = { repos: Array<{ findings: Array<{ code: string; message: string }> }> };
    const f = (JSON.parse(v.stdout) as Report).repos[0]?.findings.find((x) => x.code === 'signature-not-checked');
    expect(f?.message).toBe('the summary is signed; pass --drive-key to check the signature');
  });

  it('verify --trusted-key with the secret key: exit 2 naming it', async () => {
    const r = await runCli(['verify', '--trusted-key', key, drive]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`'${key}' (--trusted-key) holds an ed25519 secret key`);
    const u = await runCli(['verify', '--upstream-key', key, drive]);
    expect(u.code).toBe(2);
    expect(u.stderr).toContain(`'${key}' (--upstream-key) holds an ed25519 secret key`);
  });

  it('--gpg-import / --upstream-gpg with a file that is not OpenPGP: exit 2 naming it', async () => {
    const junk = path.join(ex.dir, 'junk.gpg');
    await fs.writeFile(junk, 'this is not a key\n');
    const a = await createExampleApp(ex.repo, drive, ['--gpg-import', junk], '--dry-run');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain(`'${junk}' (--gpg-import) is not an OpenPGP key file`);
    const b = await createExampleApp(ex.repo, drive, ['--gpg-import', pub], '--dry-run');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain(
      `'${pub}' (--gpg-import) is an ed25519 key, not an OpenPGP key; an upstream's ed25519 key goes to ` +
        "--upstream-key (a drive's own public key: verify --drive-key)",
    );
    const c = await runCli(['verify', '--upstream-gpg', junk, drive]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain(`'${junk}' (--upstream-gpg) is not an OpenPGP key file`);
    // A binary packet header that does not parse.
    const broken = path.join(ex.dir, 'broken.gpg');
    await fs.writeFile(broken, Buffer.from([0x99, 0x00, 0x05, 1, 2]));
    const d = await runCli([
      'create',
      '-q',
      '--dry-run',
      '--url',
      'http://127.0.0.1:9/repo',
      '--gpg-import',
      broken,
      drive,
      'org.example.App',
    ]);
    expect(d.code).toBe(2);
    expect(d.stderr).toContain(`'${broken}' (--gpg-import) is not a readable OpenPGP key file`);
  });

  it('--upstream-key (or the old --trusted-key) with an OpenPGP key is refused, naming the option given; a missing key file is exit 3 naming it', async () => {
    // Both said "(--trusted-key) is an OpenPGP key; --trusted-key takes …": an option the user did not pass.
    for (const option of ['--upstream-key', '--trusted-key']) {
      const a = await createExampleApp(ex.repo, drive, [option, ex.gpgKey], '--dry-run');
      expect(a.code, option).toBe(2);
      expect(a.stderr, option).toBe(
        `sideload: error: '${ex.gpgKey}' (${option}) is an OpenPGP key; ${option} takes an ed25519 public key ` +
          '(use --gpg-import for OpenPGP keys)\n',
      );
    }
    // A manifest's upstream-key is named as the documented option, not the old spelling.
    const manifest = path.join(ex.dir, 'keys.yaml');
    await fs.writeFile(
      manifest,
      `sources:\n  - repo: ${ex.repo}\n    upstream-key: [${ex.gpgKey}]\n    refs: [org.example.App]\n`,
    );
    const m = await runCli(['create', '-q', '--dry-run', '--manifest', manifest, drive]);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain(`'${ex.gpgKey}' (--upstream-key) is an OpenPGP key`);
    const missing = path.join(ex.dir, 'nope.key');
    for (const args of [
      ['create', '-q', '--dry-run', '--repo', ex.repo, '--sign-key', missing, drive, 'org.example.App'],
      ['verify', '--trusted-key', missing, drive],
      ['create', '-q', '--dry-run', '--repo', ex.repo, '--gpg-import', missing, drive, 'org.example.App'],
    ]) {
      const r = await runCli(args);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain(`key file '${missing}'`);
    }
  });
});

describe('key-files module', () => {
  it('reads each kind and refuses the others with UsageError', async () => {
    expect(await readSecretKeyFile(key)).toHaveLength(64);
    expect(await readPublicKeyFile(pub)).toHaveLength(1);
    expect((await readGpgKeyFile(ex.gpgKey)).length).toBeGreaterThan(32);
    await expect(readSecretKeyFile(pub)).rejects.toThrow(UsageError);
    await expect(readPublicKeyFile(key)).rejects.toThrow(UsageError);
    await expect(readGpgKeyFile(key)).rejects.toThrow(UsageError);
    await expect(readSecretKeyFile(ex.gpgKey)).rejects.toThrow(/is an OpenPGP key/);
  });
});
