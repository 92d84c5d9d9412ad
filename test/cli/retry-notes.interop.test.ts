/**
 * An HTTP retry's wait is told on stderr (src/cli/retry-notes.ts): a create --url whose server answers one object
 * 503 + `Retry-After: 2` says the server asked to wait 2 s before retrying that URL, on stderr only: with --json,
 * stdout stays one JSON document; --quiet says nothing. The real CLI against the test server.
 */
import path from 'node:path';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  CID,
  describeInterop,
  makeExampleRepo,
  sideload,
  tempDir,
  type ExampleRepo,
} from '../helpers/flatpak-fixtures.js';
import { startServer, type TestServer } from '../helpers/http-server.js';

const NET_ENV = {
  SIDELOAD_HTTP_BACKOFF_MS: '1',
  SIDELOAD_HTTP_RETRIES: '3',
  http_proxy: '',
  HTTP_PROXY: '',
  https_proxy: '',
  HTTPS_PROXY: '',
  no_proxy: '127.0.0.1',
};

describeInterop('create --url: a Retry-After wait is told on stderr', () => {
  let ex: ExampleRepo;
  let server: TestServer;
  let work: string;

  beforeAll(async () => {
    ex = await makeExampleRepo();
    server = await startServer(ex.repo, { prefix: 'repo' });
    work = await tempDir('sideload-retry-note-');
  });
  afterAll(async () => server?.close());

  /** Runs create --url with one object answered 503 + Retry-After: 2; returns the run and that object's path. */
  async function run(flags: string[], name: string) {
    let faulted: string | null = null;
    server.addFault(
      (rel) => {
        if (faulted === null && rel.endsWith('.filez')) faulted = rel;
        return rel === faulted;
      },
      { kind: 'status', status: 503, headers: { 'retry-after': '2' } },
      { times: 1 },
    );
    const drive = path.join(work, name);
    await fs.mkdir(drive);
    const r = await sideload(
      [
        'create',
        ...flags,
        '--no-fsync',
        '--url',
        server.url,
        '--collection-id',
        CID,
        '--gpg-import',
        ex.gpgKey,
        drive,
        'org.example.App',
      ],
      { env: NET_ENV },
    );
    expect(faulted).not.toBeNull();
    return { r, note: `note: server asked to wait 2 s before retrying ${server.url}/${faulted} (HTTP 503)` };
  }

  it('says so on stderr, a non-terminal run included; nothing of it on stdout', async () => {
    const { r, note } = await run([], 'plain');
    expect(r.code, r.stderr).toBe(0);
    // Before: nothing on stderr while the copy stood still for 2 s.
    expect(r.stderr.split('\n')).toContain(note);
    expect(r.stdout).not.toContain('note:');
  });

  it('with --json: the note on stderr, stdout one valid JSON document', async () => {
    const { r, note } = await run(['--json'], 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')).toContain(note);
    const doc = JSON.parse(r.stdout) as { ok: boolean };
    expect(doc.ok).toBe(true);
  });

  it('with --quiet: nothing', async () => {
    const { r } = await run(['--quiet'], 'quiet');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});
