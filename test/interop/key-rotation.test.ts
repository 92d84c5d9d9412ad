/**
 * An upstream that rotates its GPG key re-signs its commits (same checksums, new `.commitmeta`) and its summary.
 * `update` with the new key takes the new signatures of the commits the drive keeps: the drive then verifies with the
 * key its .flatpakrepo hands out (it kept the old signatures: verify exit 6, untrusted-commit x7).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { describeInterop, makeExampleRepo, run, runOk, sideload, tempDir } from '../helpers/flatpak-fixtures.js';
import { createExampleApp } from '../hostile/net-helpers.js';

describeInterop('an upstream that rotates its GPG key', () => {
  it('update takes the re-signed commits; verify passes with the new key, and a second update writes nothing', async () => {
    const ex = await makeExampleRepo();
    const drive = await tempDir('sideload-rotate-');
    const c = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey]);
    expect(c.code, c.stderr).toBe(0);
    // The new key, in a GNUPGHOME of its own.
    const home = await tempDir('sideload-rotate-gpg-');
    await fs.chmod(home, 0o700);
    const env = { ...process.env, GNUPGHOME: home };
    await runOk(
      'gpg',
      ['--batch', '--passphrase', '', '--quick-gen-key', 'New <new@example.invalid>', 'ed25519', 'sign', 'never'],
      { env },
    );
    const fpr = /^fpr:+([0-9A-F]{40}):/m.exec(
      await runOk('gpg', ['--list-keys', '--with-colons'], { env }),
    )?.[1] as string;
    const newKey = path.join(home, 'new.gpg');
    await runOk('gpg', ['--batch', '--output', newKey, '--export', fpr], { env });
    for (const ref of (await runOk('ostree', ['refs', `--repo=${ex.repo}`])).split('\n').filter(Boolean)) {
      const commit = (await runOk('ostree', ['rev-parse', `--repo=${ex.repo}`, ref])).trim();
      await runOk('ostree', ['gpg-sign', `--repo=${ex.repo}`, `--gpg-homedir=${home}`, commit, fpr]);
    }
    await runOk('flatpak', [
      'build-update-repo',
      `--gpg-import=${newKey}`,
      `--gpg-sign=${fpr}`,
      `--gpg-homedir=${home}`,
      ex.repo,
    ]);
    const u = await sideload(['update', '--json', '--no-fsync', '--repo', ex.repo, '--gpg-import', newKey, drive]);
    expect(u.code, u.stderr).toBe(0);
    expect((JSON.parse(u.stdout) as { changed: boolean }).changed).toBe(true);
    const v = await sideload(['verify', '--gpg-import', newKey, drive]);
    expect(v.code, v.stdout).toBe(0);
    const again = await sideload(['update', '--json', '--no-fsync', '--repo', ex.repo, '--gpg-import', newKey, drive]);
    expect((JSON.parse(again.stdout) as { changed: boolean }).changed).toBe(false);
    expect((await run('ostree', ['fsck', `--repo=${path.join(drive, '.ostree/repo')}`])).code).toBe(0);
  });
});
