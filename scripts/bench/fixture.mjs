// The bench fixture: a runtime and an app (a realistic mix of real system files and random blobs, or the older
// generated mix), exported with the real flatpak tools into a signed archive repo and installed into an isolated
// flatpak installation; built once per (mix, size, files, seed) under --work and reused.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Seeded, binBytes, linePool, planFixture, textBytes } from './content.mjs';
import { arch, duBytes, log, root, runOk } from './proc.mjs';
import { planRealMix } from './realmix.mjs';

export const CID = 'org.bench.Fixture';
const GENERATOR_VERSION = 2;
const fixtureScript = path.join(root, 'scripts/bench-fixture.sh');

async function writeTree(dir, plan, seed) {
  const lines = linePool(seed);
  const a = await arch();
  await fsp.rm(dir, { recursive: true, force: true });
  const made = new Set();
  const mkdir = (d) => {
    if (!made.has(d)) {
      fs.mkdirSync(d, { recursive: true });
      made.add(d);
    }
  };
  let i = 0;
  for (const f of plan) {
    const abs = path.join(dir, f.part, f.rel);
    mkdir(path.dirname(abs));
    if (f.kind === 'symlink') {
      fs.symlinkSync(f.target, abs);
      continue;
    }
    if (f.kind === 'real') {
      fs.copyFileSync(f.src, abs);
      fs.chmodSync(abs, f.mode);
      continue;
    }
    const r = new Seeded(`file:${seed}:${i++}`);
    const fd = fs.openSync(abs, 'w', f.mode);
    for (let at = 0; at < f.size; at += 4 << 20) {
      const n = Math.min(4 << 20, f.size - at);
      const chunk =
        f.kind === 'rand'
          ? r.bytes(n)
          : f.kind === 'bin'
            ? binBytes(r, lines, n)
            : textBytes(r, lines, n, at === 0 ? `/* ${f.rel} */\n` : '');
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    fs.chmodSync(abs, f.mode);
  }
  fs.writeFileSync(
    path.join(dir, 'runtime/metadata'),
    `[Runtime]\nname=org.bench.Platform\nruntime=org.bench.Platform/${a}/stable\nsdk=org.bench.Sdk/${a}/stable\n`,
  );
  mkdir(path.join(dir, 'app/files/bin'));
  mkdir(path.join(dir, 'app/export/share/applications')); // build-export wants a finished app (build-finish makes export/)
  fs.writeFileSync(path.join(dir, 'app/files/bin/bench-app'), '#!/bin/sh\necho bench\n', { mode: 0o755 });
  fs.writeFileSync(
    path.join(dir, 'app/metadata'),
    `[Application]\nname=org.bench.App\nruntime=org.bench.Platform/${a}/stable\nsdk=org.bench.Sdk/${a}/stable\ncommand=bench-app\n`,
  );
}

/** Builds (or reuses) the fixture; `install` also makes the isolated flatpak installation. */
export async function ensureFixture(o, sizeMb, install) {
  const mix = o.mix ?? 'real';
  const key = createHash('sha256')
    .update(JSON.stringify({ v: GENERATOR_VERSION, mix, sizeMb, files: mix === 'real' ? 0 : o.files, seed: o.seed }))
    .digest('hex')
    .slice(0, 10);
  const dir = path.join(
    o.work,
    mix === 'real' ? `fixture-real-${sizeMb}mb-s${o.seed}-${key}` : `fixture-${sizeMb}mb-${o.files}f-s${o.seed}-${key}`,
  );
  await fsp.mkdir(dir, { recursive: true });
  const infoFile = path.join(dir, 'fixture.json');
  if (!fs.existsSync(path.join(dir, '.repo-done'))) {
    const t0 = performance.now();
    const plan = mix === 'real' ? planRealMix(sizeMb, o.seed) : planFixture(sizeMb, o.files, o.seed);
    log(`fixture: writing ${plan.length} entries (${sizeMb} MiB, ${mix} mix) to ${dir}/tree`);
    await writeTree(path.join(dir, 'tree'), plan, o.seed);
    log(`fixture: flatpak build-export + build-update-repo`);
    await runOk('bash', [fixtureScript, 'repo', dir]);
    const kinds = {};
    for (const f of plan) {
      kinds[f.kind] ??= { files: 0, bytes: 0 };
      kinds[f.kind].files++;
      kinds[f.kind].bytes += f.size;
    }
    const objects = await duBytes(path.join(dir, 'repo/objects'));
    const info = {
      mix,
      sizeMb,
      files: plan.length,
      seed: o.seed,
      contentBytes: plan.reduce((a, f) => a + f.size, 0),
      kinds,
      repoObjects: objects,
      largest: Math.max(...plan.map((f) => f.size)),
    };
    fs.writeFileSync(infoFile, JSON.stringify(info, null, 2));
    await fsp.rm(path.join(dir, 'tree'), { recursive: true, force: true });
    fs.rmSync(path.join(dir, '.install-done'), { force: true });
    fs.writeFileSync(path.join(dir, '.repo-done'), '');
    log(`fixture: repo done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  if (install && !fs.existsSync(path.join(dir, '.install-done'))) {
    const t0 = performance.now();
    log('fixture: installing into an isolated user installation');
    await runOk('bash', [fixtureScript, 'install', dir]);
    fs.writeFileSync(path.join(dir, '.install-done'), '');
    log(`fixture: installed in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const env = {};
  for (const line of (await runOk('bash', [fixtureScript, 'env', dir])).split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return {
    dir,
    repo: path.join(dir, 'repo'),
    key: path.join(dir, 'bench.gpg'),
    env,
    info: JSON.parse(fs.readFileSync(infoFile, 'utf8')),
  };
}

export function describeFixture(info) {
  const MB = 1048576;
  const k = Object.entries(info.kinds)
    .map(([kind, v]) => `${kind} ${v.files} (${(v.bytes / MB).toFixed(0)} MiB)`)
    .join(', ');
  return `${info.mix ?? 'generated'} mix: ${info.files} files, ${(info.contentBytes / MB).toFixed(0)} MiB of content [${k}]; largest file ${(info.largest / MB).toFixed(1)} MiB; archive repo objects ${info.repoObjects.files} files, ${(info.repoObjects.bytes / MB).toFixed(0)} MiB`;
}
