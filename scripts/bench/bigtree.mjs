// A large tree (for the A/B of the commit walk's memory, src/repo/traverse.ts): a signed archive repo whose app has
// ~N directories on three levels, each leaf with one small file of its own (so no two dirtrees are equal), made with
// `ostree commit` and summarised with `flatpak build-update-repo`, like the Flathub-scale fixture (flathub.mjs).
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { gpgKey, signArgs, signedCommit } from './flathub.mjs';
import { arch, log, runOk } from './proc.mjs';

const CID = 'org.bench.Tree';
export const TREE_APP = 'org.bench.Tree';

/** Builds (or reuses) the repo; returns { repo, key, dirs }. */
export async function ensureBigTree(work, nDirs) {
  const fan = Math.max(2, Math.round(Math.cbrt(nDirs)));
  const dir = path.join(work, `bigtree-${fan}`);
  const repo = path.join(dir, 'repo');
  const key = await gpgKey(path.join(work, 'flathub-key'));
  const dirs = fan + fan ** 2 + fan ** 3;
  if (fs.existsSync(path.join(dir, '.done'))) return { repo, key: key.pub, dirs };
  const t0 = performance.now();
  log(`big tree: ${dirs} directories in ${repo}`);
  await fsp.rm(dir, { recursive: true, force: true });
  const a = await arch();
  const tree = path.join(dir, 'tree');
  for (let i = 0; i < fan; i++)
    for (let j = 0; j < fan; j++)
      for (let k = 0; k < fan; k++) {
        const d = path.join(tree, 'app/files', `d${i}`, `d${j}`, `d${k}`);
        fs.mkdirSync(d, { recursive: true });
        fs.writeFileSync(path.join(d, 'f'), `${i}/${j}/${k}\n`);
      }
  fs.mkdirSync(path.join(tree, 'runtime/files'), { recursive: true });
  const meta = {
    app: `[Application]\nname=${TREE_APP}\nruntime=org.bench.Platform/${a}/stable\ncommand=x\n`,
    runtime: `[Runtime]\nname=org.bench.Platform\nruntime=org.bench.Platform/${a}/stable\n`,
  };
  await runOk('ostree', ['init', '--mode=archive', `--collection-id=${CID}`, `--repo=${repo}`]);
  const sign = signArgs(key);
  for (const [part, ref] of [
    ['runtime', `runtime/org.bench.Platform/${a}/stable`],
    ['app', `app/${TREE_APP}/${a}/stable`],
  ]) {
    fs.writeFileSync(path.join(tree, part, 'metadata'), meta[part]);
    await signedCommit(repo, key, [
      `--branch=${ref}`,
      `--tree=dir=${path.join(tree, part)}`,
      `--add-metadata-string=xa.metadata=${meta[part]}`,
    ]);
  }
  await runOk('flatpak', ['build-update-repo', `--collection-id=${CID}`, ...sign, `--gpg-import=${key.pub}`, repo]);
  await fsp.rm(tree, { recursive: true, force: true });
  fs.writeFileSync(path.join(dir, '.done'), '');
  log(`big tree: built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { repo, key: key.pub, dirs };
}
