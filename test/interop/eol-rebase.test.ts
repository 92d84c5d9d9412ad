/**
 * An app its upstream marked end-of-life in favour of another (`flatpak build-commit-from --end-of-life-rebase`):
 * flatpak moves an install of it to the replacement, so the drive must carry the replacement too. Real flatpak
 * 1.14 installs from the drive offline (it failed: "No such ref 'app/org.example.NewApp/…' in remote example").
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  ARCH,
  describeInterop,
  installedCommits,
  makeExampleRepo,
  offlineInstall,
  runOk,
  sideload,
  tempDir,
} from '../helpers/flatpak-fixtures.js';
import { mirrorRefs } from './create-helpers.js';
import { createExampleApp } from '../hostile/net-helpers.js';

describeInterop('an end-of-life app with a replacement', () => {
  it('the drive carries the replacement and what it needs; flatpak installs the app from it offline', async () => {
    const ex = await makeExampleRepo();
    const gpg = [
      `--gpg-homedir=${path.join(ex.dir, 'gpghome')}`,
      `--gpg-sign=${(await fs.readFile(path.join(ex.dir, 'gpghome/keyid'), 'utf8')).trim()}`,
    ];
    const OLD = `app/org.example.App/${ARCH}/stable`;
    const NEW = `app/org.example.NewApp/${ARCH}/stable`;
    await runOk('flatpak', ['build-commit-from', ...gpg, '--no-update-summary', `--src-ref=${OLD}`, ex.repo, NEW]);
    await runOk('flatpak', [
      'build-commit-from',
      ...gpg,
      '--no-update-summary',
      '--end-of-life-rebase=org.example.App=org.example.NewApp',
      `--src-ref=${OLD}`,
      ex.repo,
      OLD,
    ]);
    await runOk('flatpak', ['build-update-repo', ...gpg, ex.repo]);
    const drive = await tempDir('sideload-eol-');
    const r = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const refs = (JSON.parse(r.stdout) as { refs: Array<{ ref: string; reason: string }> }).refs;
    expect(refs.find((x) => x.ref === NEW)?.reason).toBe('rebase');
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).has(`org.example.Stable ${NEW}`)).toBe(true);
    expect((await sideload(['verify', drive])).code).toBe(0);
    const { f, result } = await offlineInstall(ex, drive);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect([...(await installedCommits(f)).keys()]).toContain(NEW);
  });
});
