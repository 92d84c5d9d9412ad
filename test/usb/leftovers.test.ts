/**
 * listLeftovers (usb/publish.ts): the temp files and old upstream copies a killed run leaves in a drive repo, found
 * at every depth of refs/ and in the repo root, state/, tmp/ and the upstream directory, and never through a
 * symlink a hostile drive planted (a directory elsewhere holding names that look like leftovers).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { listLeftovers } from '../../src/usb/publish.js';
import { tempDir } from '../helpers/tmp.js';

const CID = 'org.example.Apps';
const UP = 'extensions/sideload/upstream';

async function put(root: string, rel: string, dir = false): Promise<void> {
  const p = path.join(root, rel);
  await fs.mkdir(dir ? p : path.dirname(p), { recursive: true });
  if (!dir) await fs.writeFile(p, 'x');
}

describe('listLeftovers', () => {
  it('finds temp files at every depth of refs/, in the root, state/, tmp/, and old upstream copies', async () => {
    const repo = await tempDir('leftovers-');
    const leftovers = [
      '.summary.tmp-4242-q1',
      `refs/mirrors/${CID}/app/org.example.App/x86_64/.stable.tmp-4242-k3j2`,
      'refs/heads/.x.tmp-1-a',
      `state/.${'b'.repeat(64)}.commitpartial.tmp-4242-zz`,
      'tmp/.sideload-publish.json.tmp-4242-a0',
      'tmp/.sideload-write-test-77',
      `${UP}/.sideload.json.tmp-9-b`,
    ];
    for (const f of leftovers) await put(repo, f);
    await put(repo, `${UP}/${CID}.old-4242`, true);
    await put(repo, `${UP}/${CID}.old-4243/summary`);
    // Not leftovers: ordinary files, temp-like names where none are swept (objects/, deep in state/ or tmp/).
    for (const f of [
      'summary',
      `refs/mirrors/${CID}/app/org.example.App/x86_64/stable`,
      'objects/ab/.cd.tmp-1-a',
      'state/sub/.x.tmp-1-a',
      'tmp/staging/.x.tmp-1-a',
      `${UP}/${CID}/summary`,
    ])
      await put(repo, f);
    expect(await listLeftovers(repo)).toEqual([...leftovers, `${UP}/${CID}.old-4242`, `${UP}/${CID}.old-4243`].sort());
  });

  it('follows no symlink: a linked refs/ subdirectory, state/ or upstream directory is not listed', async () => {
    const root = await tempDir('leftovers-links-');
    const repo = path.join(root, 'repo');
    const outside = path.join(root, 'outside');
    await put(outside, '.planted.tmp-1-a');
    await put(outside, `${CID}.old-1`, true);
    await put(repo, 'refs/mirrors/.real.tmp-2-b');
    await put(repo, 'extensions/sideload/.x', false);
    await fs.symlink(outside, path.join(repo, `refs/mirrors/${CID}`));
    await fs.symlink(outside, path.join(repo, 'state'));
    await fs.symlink(outside, path.join(repo, UP));
    expect(await listLeftovers(repo)).toEqual(['refs/mirrors/.real.tmp-2-b']);
    // A symlinked directory on the way to the upstream copies, and refs/ itself a symlink.
    await put(root, `elsewhere/sideload/upstream/${CID}.old-5`, true);
    await fs.rm(path.join(repo, 'extensions'), { recursive: true });
    await fs.symlink(path.join(root, 'elsewhere'), path.join(repo, 'extensions'));
    await fs.rm(path.join(repo, 'refs'), { recursive: true });
    await fs.symlink(outside, path.join(repo, 'refs'));
    expect(await listLeftovers(repo)).toEqual([]);
  });
});
