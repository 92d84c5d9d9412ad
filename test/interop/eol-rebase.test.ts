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
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { mirrorRefs } from './create-helpers.js';
import { createExampleApp } from '../hostile/net-helpers.js';

/** The example repo's signing options for flatpak build-* commands. */
async function signArgs(ex: ExampleRepo): Promise<string[]> {
  return [
    `--gpg-homedir=${path.join(ex.dir, 'gpghome')}`,
    `--gpg-sign=${(await fs.readFile(path.join(ex.dir, 'gpghome/keyid'), 'utf8')).trim()}`,
  ];
}

/**
 * Exports `app/org.example.NewApp/ARCH/stable` with a Locale extension of its own (`org.example.NewApp.Locale`),
 * on the example runtime, and marks org.example.App end-of-life in its favour; then updates the summary.
 */
async function rebaseToNewAppWithLocale(ex: ExampleRepo): Promise<void> {
  const gpg = await signArgs(ex);
  const work = await tempDir('sideload-newapp-');
  const exp = ['build-export', '--no-update-summary', '--collection-id=org.example.Stable', ...gpg, `--arch=${ARCH}`];
  const app = path.join(work, 'app');
  await fs.mkdir(path.join(app, 'files/bin'), { recursive: true });
  await fs.mkdir(path.join(app, 'export'), { recursive: true }); // build-export wants a finished build
  await fs.writeFile(
    path.join(app, 'metadata'),
    `[Application]\nname=org.example.NewApp\nruntime=org.example.Platform/${ARCH}/stable\ncommand=new-app\n\n` +
      '[Extension org.example.NewApp.Locale]\ndirectory=share/runtime/locale\nsubdirectories=true\n' +
      'autodelete=true\nlocale-subset=true\n',
  );
  await fs.writeFile(path.join(app, 'files/bin/new-app'), '#!/bin/sh\necho new app\n', { mode: 0o755 });
  await runOk('flatpak', [...exp, ex.repo, app, 'stable']);
  const locale = path.join(work, 'locale');
  await fs.mkdir(path.join(locale, 'files/de/share/de/LC_MESSAGES'), { recursive: true });
  await fs.writeFile(path.join(locale, 'files/de/share/de/LC_MESSAGES/new.mo'), 'new app messages (de)\n');
  await fs.writeFile(
    path.join(locale, 'metadata'),
    `[Runtime]\nname=org.example.NewApp.Locale\n\n[ExtensionOf]\nref=app/org.example.NewApp/${ARCH}/stable\n`,
  );
  await runOk('flatpak', [...exp, '--runtime', ex.repo, locale, 'stable']);
  const OLD = `app/org.example.App/${ARCH}/stable`;
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
}

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

  it('update brings the replacement of an app that went end-of-life with its Locale, as create would', async () => {
    const ex = await makeExampleRepo();
    const drive = await tempDir('sideload-eol-upd-');
    const c = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey]);
    expect(c.code, c.stderr).toBe(0);
    await rebaseToNewAppWithLocale(ex);
    const NEW = `app/org.example.NewApp/${ARCH}/stable`;
    const NEW_LOCALE = `runtime/org.example.NewApp.Locale/${ARCH}/stable`;
    const u = await sideload(['update', '--no-fsync', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive]);
    expect(u.code, u.stderr).toBe(0);
    const refs = (JSON.parse(u.stdout) as { refs: Array<{ ref: string; reason: string; change: string }> }).refs;
    expect(refs.find((x) => x.ref === NEW)).toMatchObject({ reason: 'rebase', change: 'added' });
    // Before the fix: the replacement came without it (update resolved the apps with no related refs).
    expect(refs.find((x) => x.ref === NEW_LOCALE)).toMatchObject({ reason: 'related', change: 'added' });
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).has(`org.example.Stable ${NEW_LOCALE}`)).toBe(true);
    expect((await sideload(['verify', drive])).code).toBe(0);
    // flatpak installs the old app from the drive offline, moved to the replacement, with its translation.
    const { f, result } = await offlineInstall(ex, drive, ['org.example.App'], { languages: ['de'] });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect([...(await installedCommits(f)).keys()]).toEqual(expect.arrayContaining([NEW, NEW_LOCALE]));
  });

  it("update on a drive of partial Locales brings the replacement app's Locale with their languages only", async () => {
    const ex = await makeExampleRepo();
    const drive = await tempDir('sideload-eol-part-');
    const c = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey, '--locales', 'de']);
    expect(c.code, c.stderr).toBe(0);
    await rebaseToNewAppWithLocale(ex);
    const NEW_LOCALE = `runtime/org.example.NewApp.Locale/${ARCH}/stable`;
    const u = await sideload(['update', '--no-fsync', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive]);
    expect(u.code, u.stderr).toBe(0);
    const refs = (JSON.parse(u.stdout) as { refs: Array<Record<string, unknown>> }).refs;
    // Before the fix: the whole commit (subpaths null) on a drive whose Locales hold de only.
    expect(refs.find((x) => x['ref'] === NEW_LOCALE)).toMatchObject({
      reason: 'related',
      change: 'added',
      partial: true,
      subpaths: expect.arrayContaining(['/files/de', '/metadata']),
      languages: ['de'],
    });
    expect((await sideload(['verify', drive])).code).toBe(0);
    const { f, result } = await offlineInstall(ex, drive, ['org.example.App'], { languages: ['de'] });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect([...(await installedCommits(f)).keys()]).toEqual(expect.arrayContaining([NEW_LOCALE]));
  });
});
