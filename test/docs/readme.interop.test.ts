/**
 * The README's library example is examples/library.mjs, verbatim; this runs it against the bundled example repo
 * (no flatpak needed) and checks the drive it made, and checks the quick start names the scripts that exist.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, run, tempDir } from '../helpers/flatpak-fixtures.js';
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
      expect.stringMatching(/^warning: 'runtime\/org\.example\.App\.Locale\/\w+\/stable' goes on the drive with languages de only; clients set to es, fr will skip it offline$/),
      expect.stringMatching(/^warning: 'runtime\/org\.example\.Platform\.Locale\/\w+\/stable' goes on the drive with languages de only; clients set to es, fr will skip it offline$/),
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
    const pkg = JSON.parse(await fs.readFile(path.join(projectRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(readme).toContain('npm ci && npm run demo');
    expect(readme).toContain('npm ci && npm test');
    for (const s of ['demo', 'test', 'bench']) expect(pkg.scripts[s], s).toBeTruthy();
  });
});
