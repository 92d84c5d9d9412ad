/**
 * The README's library example is examples/library.mjs, verbatim; this runs it against the bundled example repo
 * (no flatpak needed) and checks the drive it made, and checks the quick start names the scripts that exist.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CID,
  describeInterop,
  ensureBuilt,
  flatpakEnv,
  installedExample,
  makeExampleRepo,
  run,
  tempDir,
} from '../helpers/flatpak-fixtures.js';
import { startServer } from '../helpers/http-server.js';
import { projectRoot } from '../helpers/shared.js';

describe('README', () => {
  it('shows examples/library.mjs verbatim, and the example runs and makes a verified drive', async () => {
    const readme = await fs.readFile(path.join(projectRoot, 'README.md'), 'utf8');
    const example = await fs.readFile(path.join(projectRoot, 'examples/library.mjs'), 'utf8');
    expect(readme).toContain('```js\n' + example.replace(/^\/\/ Using sideload.*\n\/\/ Run after.*\n/, '') + '```');
    await ensureBuilt();
    const drive = await tempDir('sideload-readme-');
    const r = await run(process.execPath, [path.join(projectRoot, 'examples/library.mjs'), drive]);
    // --locales de narrows both Locale extensions, and the library says which languages clients will miss.
    expect(r.stderr.trim().split('\n').sort()).toEqual([
      expect.stringMatching(
        /^warning: 'runtime\/org\.example\.App\.Locale\/\w+\/stable' goes on the drive with languages de only; clients set to es, fr will skip it offline$/,
      ),
      expect.stringMatching(
        /^warning: 'runtime\/org\.example\.Platform\.Locale\/\w+\/stable' goes on the drive with languages de only; clients set to es, fr will skip it offline$/,
      ),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^added app\/org\.example\.App\/\w+\/stable [0-9a-f]{12}$/m);
    expect(r.stdout).toMatch(/^added runtime\/org\.example\.Platform\.Locale\/\w+\/stable [0-9a-f]{12} \(partial\)$/m);
    expect(r.stdout).toContain(`verified ${drive}`);
    // The partial Locale commits carry their marker, as ostree's pull with subdirs leaves it.
    const state = await fs.readdir(path.join(drive, '.ostree/repo/state'));
    expect(state.filter((f) => f.endsWith('.commitpartial'))).toHaveLength(2);
  });

  it('quick start commands name scripts that exist', async () => {
    const readme = await fs.readFile(path.join(projectRoot, 'README.md'), 'utf8');
    const pkg = JSON.parse(await fs.readFile(path.join(projectRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    for (const s of ['demo', 'test', 'bench']) expect(pkg.scripts[s], s).toBeTruthy();
  });
});

/**
 * Every shell command in the README runs, in README order, against the example (built by the real flatpak tools
 * with two arches, served over HTTP on 127.0.0.1, and installed into an isolated installation), so the README
 * cannot drift from the program. Paths are adapted: the mount points become temp dirs, Flathub's URL, collection
 * ID, key and app become the example's. Only `npm`/`npx` lines (building and testing this project) are not run.
 */
describeInterop('README commands', () => {
  it('every ```sh block runs as written (paths adapted) and succeeds', async () => {
    const ex = await makeExampleRepo({ arches: ['x86_64', 'aarch64'] });
    const server = await startServer(ex.repo, { prefix: 'repo' });
    try {
      const inst = await installedExample(ex);
      const t = await tempDir('sideload-readme-run-');
      const cwd = path.join(t, 'cwd');
      await fs.mkdir(cwd);
      for (const d of ['USB', 'mnt-usb']) await fs.mkdir(path.join(t, d)); // mounted drives exist
      await fs.symlink(ex.repo, path.join(cwd, 'repo'));
      await fs.symlink(ex.gpgKey, path.join(cwd, 'repo.gpg'));
      await fs.symlink(ex.gpgKey, path.join(cwd, 'flathub.gpg'));
      await fs.symlink(path.join(projectRoot, 'examples'), path.join(cwd, 'examples'));
      const key = (await fs.readFile(ex.gpgKey)).toString('base64');
      await fs.writeFile(
        path.join(cwd, 'flathub.flatpakrepo'),
        `[Flatpak Repo]\nTitle=Flathub\nUrl=${server.url}/\nDeploySideloadCollectionID=${CID}\nGPGKey=${key}\n`,
      );
      const readme = await fs.readFile(path.join(projectRoot, 'README.md'), 'utf8');
      const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] as string);
      expect(blocks.length).toBeGreaterThanOrEqual(6);
      const adapt = (text: string) =>
        text
          .replaceAll('https://dl.flathub.org/repo', server.url)
          .replaceAll('org.flathub.Stable', CID)
          .replaceAll('org.gnome.Maps', 'org.example.App')
          .replaceAll('/run/media/me/USB', path.join(t, 'USB'))
          .replaceAll('/mnt/usb', path.join(t, 'mnt-usb'))
          .replaceAll('/tmp/usb', path.join(t, 'tmp-usb'))
          // flatpak asks before installing; a person answers, the test says yes up front.
          .replace(/^flatpak install /gm, 'flatpak install -y --noninteractive ');
      const prelude = `sideload() { ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(projectRoot, 'dist/cli/main.cjs'))} "$@"; }\n`;
      let ran = 0;
      for (const block of blocks) {
        const lines = block.split('\n').filter((l) => !/^(npm|npx) /.test(l.trim()));
        if (!lines.some((l) => /^(sideload|flatpak|mkdir|cd|export) /.test(l.trim()))) continue;
        // Blocks for the receiving machine start from a fresh isolated flatpak installation.
        const env = /^flatpak /m.test(block) ? (await flatpakEnv()).env : inst.env;
        const script = prelude + adapt(lines.join('\n'));
        const r = await run('bash', ['-euo', 'pipefail', '-c', script], { env, cwd });
        expect(r.code, `${script}\n--- stderr:\n${r.stderr}\n--- stdout:\n${r.stdout}`).toBe(0);
        ran += lines.filter((l) => /^\s*(sideload|flatpak) /.test(l)).length;
      }
      expect(ran).toBeGreaterThanOrEqual(17);
      // What they made: the drive from the installation still holds the app; the two-arch one had it taken off
      // again (remove --with-deps, then prune) by the last block.
      const cli = path.join(projectRoot, 'dist/cli/main.cjs');
      expect((await run(process.execPath, [cli, 'list', path.join(t, 'USB')])).stdout).toMatch(
        /app\/org\.example\.App\/\w+\/stable/,
      );
      const after = await run(process.execPath, [cli, 'list', path.join(t, 'mnt-usb')]);
      expect(after.code, after.stderr).toBe(0);
      expect(after.stdout).not.toContain('app/org.example.App/');
    } finally {
      await server.close();
    }
  }, 600_000);
});
