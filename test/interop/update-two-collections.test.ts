/**
 * `update` of a drive with two upstreams from one of them: the other collection's refs are that source's to update
 * and stay without a warning (`update --strict` used to stop on `not-in-source` for each of them); a ref the
 * source's own collection no longer offers still warns.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import {
  describeInterop,
  makeExampleRepo,
  runOk,
  sideload,
  tempDir,
  exampleSignArgs,
} from '../helpers/flatpak-fixtures.js';
import { createExampleApp } from '../hostile/net-helpers.js';
import { mirrorRefs } from './create-helpers.js';

const OS_REF = 'os/example/x86_64/stable';

describeInterop('updating a drive of two upstreams from one', () => {
  it("leaves the other collection's refs quietly; --strict passes", async () => {
    const ex = await makeExampleRepo();
    const dir = await tempDir('sideload-upd2-');
    const os = path.join(dir, 'os');
    await fs.mkdir(path.join(dir, 'tree/usr'), { recursive: true });
    await fs.writeFile(path.join(dir, 'tree/usr/os-release'), 'NAME=example\n');
    await runOk('ostree', [`--repo=${os}`, 'init', '--mode=archive', '--collection-id=org.example.Os']);
    await runOk('ostree', [`--repo=${os}`, 'commit', `--branch=${OS_REF}`, '-s', 'os', path.join(dir, 'tree')]);
    const drive = path.join(dir, 'drive');
    await fs.mkdir(drive);
    expect((await createExampleApp(ex.repo, drive, ['--gpg-import', ex.gpgKey])).code).toBe(0);
    const c = await sideload(['create', '--no-fsync', '-q', '--no-upstream-summary', '--repo', os, drive, OS_REF]);
    expect(c.code, c.stderr).toBe(0);

    const args = ['update', '--no-fsync', '--json', '--repo', ex.repo, '--gpg-import', ex.gpgKey, drive];
    const u = await sideload([...args, '--strict']);
    // Before the fix: exit 1, ESTRICT "warning not-in-source: 'os/example/x86_64/stable' (org.example.Os) …".
    expect(u.code, u.stdout + u.stderr).toBe(0);
    const doc = JSON.parse(u.stdout) as { warnings: unknown[]; refs: Array<{ ref: string; change: string }> };
    expect(doc.warnings).toEqual([]);
    expect(doc.refs.find((r) => r.ref === OS_REF)?.change).toBe('kept');
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).has(`org.example.Os ${OS_REF}`)).toBe(true);

    // A ref the source's own collection no longer has still warns.
    await runOk('ostree', [`--repo=${ex.repo}`, 'refs', '--delete', `app/org.example.App/x86_64/stable`]);
    await runOk('flatpak', ['build-update-repo', ...(await exampleSignArgs(ex)), ex.repo]);
    const w = await sideload(args);
    expect(w.code, w.stderr).toBe(0);
    const codes = (JSON.parse(w.stdout) as { warnings: Array<{ code: string; data: { ref?: string } }> }).warnings;
    expect(codes.map((x) => [x.code, x.data.ref])).toEqual([['not-in-source', 'app/org.example.App/x86_64/stable']]);
  });
});
