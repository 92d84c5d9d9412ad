/**
 * An installation source reads its remotes at their URLs (issues 13 and 16), as flatpak create-usb fetches the
 * appstream first: the remote's current appstream2 and, when flatpak cached no summary (always so for a file://
 * remote), the published summary files. `--offline` keeps to what the installation holds and says what is missing;
 * an unreachable remote is a warning, not a failure. The installation itself is never modified.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  ARCH,
  CID,
  describeInterop,
  installedExample,
  makeExampleRepo,
  offlineInstall,
  sideload,
  tempDir,
  type ExampleRepo,
  type FlatpakEnv,
} from '../helpers/flatpak-fixtures.js';
import { startServer, type TestServer } from '../helpers/http-server.js';
import { mirrorRefs } from './create-helpers.js';
import { snapshotDir } from '../helpers/tree-snapshot.js';

const NO_PROXY = { http_proxy: '', https_proxy: '', HTTP_PROXY: '', HTTPS_PROXY: '', no_proxy: '*' };

describeInterop('installation sources read their remotes at their URLs', () => {
  let ex: ExampleRepo;
  let inst: FlatpakEnv;
  let server: TestServer;
  let appstream2: string;

  beforeAll(async () => {
    ex = await makeExampleRepo();
    inst = await installedExample(ex); // remote 'example' at file://…; flatpak install fetches no appstream
    server = await startServer(ex.repo, { prefix: 'repo' });
    appstream2 = (await fs.readFile(path.join(ex.repo, 'refs/heads/appstream2', ARCH), 'utf8')).trim();
  });
  afterAll(async () => server?.close());

  it('file:// remote: the drive gets the remote current appstream2 and its published summary, the installation stays as it was', async () => {
    expect(
      await fs.stat(path.join(inst.userDir, 'repo/refs/remotes/example/appstream2', ARCH)).catch(() => null),
    ).toBeNull();
    const before = await snapshotDir(inst.userDir);
    const drive = await tempDir('sideload-instremote-');
    const r = await sideload(['create', '--json', '--user', '--no-fsync', drive, 'org.example.App'], { env: inst.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/no appstream|no upstream summary/);
    expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} appstream2/${ARCH}`)).toBe(appstream2);
    const record = JSON.parse(
      await fs.readFile(path.join(drive, '.ostree/repo/extensions/sideload/upstream', CID, 'sideload.json'), 'utf8'),
    ) as { origin: string; signedBy: string[] };
    expect(record.origin).toBe(`remote 'example' (file://${ex.repo})`);
    expect(record.signedBy).toEqual(['gpg']);
    for (const f of ['summary.idx', 'summary.idx.sig'])
      expect(await fs.readFile(path.join(drive, '.ostree/repo/extensions/sideload/upstream', CID, f))).toEqual(
        await fs.readFile(path.join(ex.repo, f)),
      );
    expect(await snapshotDir(inst.userDir)).toEqual(before);
    const v = await sideload(['verify', '--upstream-gpg', ex.gpgKey, drive]);
    expect(v.code, v.stdout + v.stderr).toBe(0);
    const { result } = await offlineInstall(ex, drive);
    expect(result.code, result.stderr).toBe(0);
  });

  it('http(s) remote: read over the network; --offline reads nothing and says so; an unreachable remote is a warning', async () => {
    const env = { ...inst.env, ...NO_PROXY };
    await inst.flatpakOk(['--user', 'remote-modify', `--url=${server.url}/`, 'example']);
    try {
      server.resetLog();
      const drive = await tempDir('sideload-instremote-');
      const r = await sideload(['create', '--user', '--no-fsync', drive, 'org.example.App'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(server.count('summary.idx', 'GET')).toBe(1);
      expect((await mirrorRefs(path.join(drive, '.ostree/repo'))).get(`${CID} appstream2/${ARCH}`)).toBe(appstream2);

      server.resetLog();
      const off = await tempDir('sideload-instremote-');
      const o = await sideload(['create', '--user', '--offline', '--no-fsync', off, 'org.example.App'], { env });
      expect(o.code, o.stderr).toBe(0);
      expect(server.log).toEqual([]);
      expect(o.stderr).toContain(`remote 'example' (${server.url}/) was not read (--offline)`);
      expect(o.stderr).toMatch(/no appstream data for collection 'org\.example\.Stable'/);
      expect(o.stderr).toMatch(/no upstream summary for 'org\.example\.Stable'/);
      expect([...(await mirrorRefs(path.join(off, '.ostree/repo'))).keys()].some((k) => k.includes('appstream'))).toBe(
        false,
      );

      await inst.flatpakOk(['--user', 'remote-modify', `--url=http://127.0.0.1:9/repo/`, 'example']);
      const down = await tempDir('sideload-instremote-');
      const d = await sideload(['create', '--user', '--no-fsync', down, 'org.example.App'], {
        env: { ...env, SIDELOAD_HTTP_RETRIES: '0' },
      });
      expect(d.code, d.stderr).toBe(0);
      expect(d.stderr).toMatch(/remote 'example' \(http:\/\/127\.0\.0\.1:9\/repo\/\) could not be read/);
    } finally {
      await inst.flatpakOk(['--user', 'remote-modify', `--url=file://${ex.repo}`, 'example']);
    }
  });
});
