/**
 * An update whose app moved to another runtime branch: the new runtime is new to the drive, so it comes with its
 * related refs (Locale …) as `create` would take them, while the drive's own refs keep what they have.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  ARCH,
  describeInterop,
  makeExampleRepo,
  runOk,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { createExampleApp } from '../hostile/net-helpers.js';
import { mirrorRefs } from './create-helpers.js';

/** The runtime and its Locale copied to branch `next`, and a new build of the app on that runtime. */
async function moveAppToNextRuntime(ex: ExampleRepo): Promise<void> {
  const gpg = [
    `--gpg-homedir=${path.join(ex.dir, 'gpghome')}`,
    `--gpg-sign=${(await fs.readFile(path.join(ex.dir, 'gpghome/keyid'), 'utf8')).trim()}`,
  ];
  for (const id of ['org.example.Platform', 'org.example.Platform.Locale'])
    await runOk('flatpak', [
      'build-commit-from',
      ...gpg,
      '--no-update-summary',
      `--src-ref=runtime/${id}/${ARCH}/stable`,
      ex.repo,
      `runtime/${id}/${ARCH}/next`,
    ]);
  const app = path.join(await tempDir('sideload-next-app-'), 'app');
  await fs.mkdir(path.join(app, 'files/bin'), { recursive: true });
  await fs.mkdir(path.join(app, 'export'), { recursive: true });
  await fs.writeFile(
    path.join(app, 'metadata'),
    `[Application]\nname=org.example.App\nruntime=org.example.Platform/${ARCH}/next\ncommand=app\n`,
  );
  await fs.writeFile(path.join(app, 'files/bin/app'), '#!/bin/sh\necho on next\n', { mode: 0o755 });
  await runOk('flatpak', [
    'build-export',
    '--no-update-summary',
    '--collection-id=org.example.Stable',
    ...gpg,
    `--arch=${ARCH}`,
    ex.repo,
    app,
    'stable',
  ]);
  await runOk('flatpak', ['build-update-repo', ...gpg, ex.repo]);
}

describeInterop('an update onto a new runtime branch', () => {
  it("brings the new runtime's Locale, as create would", async () => {
    const ex = await makeExampleRepo();
    const drive = await tempDir('sideload-next-');
    const c = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey]);
    expect(c.code, c.stderr).toBe(0);
    await moveAppToNextRuntime(ex);
    const u = await sideload(['update', '--no-fsync', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive]);
    expect(u.code, u.stderr).toBe(0);
    const refs = (JSON.parse(u.stdout) as { refs: Array<{ ref: string; reason: string; change: string }> }).refs;
    const NEXT = `runtime/org.example.Platform/${ARCH}/next`;
    const NEXT_LOCALE = `runtime/org.example.Platform.Locale/${ARCH}/next`;
    expect(refs.find((x) => x.ref === NEXT)).toMatchObject({ reason: 'runtime', change: 'added' });
    // Before the fix: the new runtime came alone (update resolved the apps with no related refs).
    expect(refs.find((x) => x.ref === NEXT_LOCALE)).toMatchObject({ reason: 'related', change: 'added' });
    const onDrive = await mirrorRefs(path.join(drive, '.ostree/repo'));
    expect(onDrive.has(`org.example.Stable ${NEXT_LOCALE}`)).toBe(true);
    // The refs the drive had keep what they had: the old branch's Locale is still there, not added twice.
    expect(refs.filter((x) => x.change === 'added').map((x) => x.ref)).toEqual(
      expect.arrayContaining([NEXT, NEXT_LOCALE]),
    );
    expect(onDrive.has(`org.example.Stable runtime/org.example.Platform.Locale/${ARCH}/stable`)).toBe(true);
    expect((await sideload(['verify', drive])).code).toBe(0);
  });

  it("on a drive whose Locales are all partial, the new runtime's Locale takes the union of their languages", async () => {
    const ex = await makeExampleRepo();
    const drive = await tempDir('sideload-next-part-');
    const c = await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey, '--locales', 'de']);
    expect(c.code, c.stderr).toBe(0);
    // The runtime's Locale gets fr too: the drive then holds de (both Locales) and fr (one).
    const LOCALE = `runtime/org.example.Platform.Locale/${ARCH}/stable`;
    const fr = await sideload([
      'create',
      '-q',
      '--no-fsync',
      '--locales',
      'fr',
      '--repo',
      ex.repo,
      '--gpg-import',
      ex.gpgKey,
      drive,
      LOCALE,
    ]);
    expect(fr.code, fr.stderr).toBe(0);
    await moveAppToNextRuntime(ex);
    const u = await sideload(['update', '--no-fsync', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive]);
    expect(u.code, u.stderr).toBe(0);
    const doc = JSON.parse(u.stdout) as {
      refs: Array<Record<string, unknown>>;
      warnings: Array<{ code: string; message: string }>;
    };
    const NEXT_LOCALE = `runtime/org.example.Platform.Locale/${ARCH}/next`;
    // Before the fix: every language (subpaths null), on a drive made with --locales de.
    expect(doc.refs.find((x) => x['ref'] === NEXT_LOCALE)).toMatchObject({
      change: 'added',
      partial: true,
      subpaths: expect.arrayContaining(['/files/de', '/files/fr', '/metadata']),
      languages: ['de', 'fr'],
    });
    const warned = doc.warnings.filter((w) => w.code === 'partial-locale').map((w) => w.message);
    expect(warned).toEqual([
      `'${NEXT_LOCALE}' goes on the drive with languages de, fr only; clients set to es will skip it offline`,
    ]);
    // The human plan says it too.
    const dry = await sideload(['update', '--dry-run', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive]);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/unchanged .* runtime\/org\.example\.Platform\.Locale\/\S+\/next .* partial \(de, fr\)/);
    expect((await sideload(['verify', drive])).code).toBe(0);
  });
});
