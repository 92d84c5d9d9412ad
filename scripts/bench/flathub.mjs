// Flathub scale (issue 15 goal 4): an upstream archive repo with N refs over 2 arches, made cheaply, with the
// summary.idx, per-arch subsummaries and xa.cache of `flatpak build-update-repo`; then `sideload create` of 3 apps
// from it, `sideload list` and `sideload verify` on the result, each paired (alternating order) with the same on a
// 50-ref upstream.
//
// Cheap refs: a runtime and 3 apps per arch are real signed commits (`ostree commit --tree=ref=<shared tree>`, with
// ref bindings); every other ref is a ref file pointing at one of a few shared unbound filler commits per arch (one
// `ostree commit` per ref costs ~0.2 s here: 5,000 would take 15 minutes). build-update-repo still writes one
// summary entry and one xa.cache entry per ref, which is what scales.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { sideloadCommand } from './peers.mjs';
import { log, measure, median, runOk } from './proc.mjs';
import { fmtS, fmtX, markdownTable } from './report.mjs';

const CID = 'org.bench.Flathub';
const ARCHES = ['x86_64', 'aarch64'];
const APPS = ['org.bench.App1', 'org.bench.App2', 'org.bench.App3'];
const VERSION = 2;

/** A throwaway signing key under `dir` (made once): { home, keyid, pub }. */
export async function gpgKey(dir) {
  await fsp.mkdir(dir, { recursive: true });
  const home = path.join(dir, 'gpghome');
  if (!fs.existsSync(path.join(home, 'keyid'))) {
    await fsp.rm(home, { recursive: true, force: true });
    await fsp.mkdir(home, { recursive: true, mode: 0o700 });
    await runOk('gpg', [
      '--homedir',
      home,
      '--batch',
      '--quiet',
      '--passphrase',
      '',
      '--quick-gen-key',
      'Sideload Flathub-scale Bench <bench@invalid>',
      'ed25519',
      'sign',
      'never',
    ]);
    const fpr = /^fpr:+([0-9A-F]+):/m.exec(
      await runOk('gpg', ['--homedir', home, '--batch', '--list-keys', '--with-colons']),
    )[1];
    fs.writeFileSync(path.join(home, 'keyid'), fpr);
  }
  const keyid = fs.readFileSync(path.join(home, 'keyid'), 'utf8').trim();
  const pub = path.join(dir, 'key.gpg');
  if (!fs.existsSync(pub)) await runOk('gpg', ['--homedir', home, '--batch', '--output', pub, '--export', keyid]);
  return { home, keyid, pub };
}

/** A few KiB of files per tree, so a copy is quick and the per-ref costs show. */
function writeTree(dir, metadata, n) {
  fs.mkdirSync(path.join(dir, 'files/share/doc'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'usr/lib'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'metadata'), metadata);
  for (let i = 0; i < n; i++)
    fs.writeFileSync(
      path.join(dir, i % 2 ? 'files/share/doc' : 'usr/lib', `f${i}.txt`),
      `${metadata}\n${'line '.repeat(50 + i)}\n`,
    );
}

/** `--gpg-sign` and `--gpg-homedir` for `key` (gpgKey), as ostree commit and flatpak build-update-repo take them. */
export const signArgs = (key) => [`--gpg-sign=${key.keyid}`, `--gpg-homedir=${key.home}`];

/** `ostree commit` into `repo`, signed with `key`, at a fixed timestamp and without xattrs; resolves to the checksum. */
export async function signedCommit(repo, key, args) {
  const out = await runOk('ostree', [
    'commit',
    `--repo=${repo}`,
    '--no-xattrs',
    '--timestamp=2024-01-01T00:00:00Z',
    ...signArgs(key),
    ...args,
  ]);
  return out.trim();
}

/** Builds (or reuses) an upstream with `nRefs` refs; returns { repo, key }. */
export async function ensureFlathubFixture(work, nRefs) {
  const dir = path.join(work, `flathub-${nRefs}refs-v${VERSION}`);
  const repo = path.join(dir, 'repo');
  await fsp.mkdir(dir, { recursive: true });
  const key = await gpgKey(path.join(work, 'flathub-key'));
  if (fs.existsSync(path.join(dir, '.done'))) return { dir, repo, key: key.pub, nRefs };
  const t0 = performance.now();
  log(`flathub fixture: ${nRefs} refs over ${ARCHES.join(', ')} in ${repo}`);
  await fsp.rm(repo, { recursive: true, force: true });
  await runOk('ostree', ['init', '--mode=archive', `--collection-id=${CID}`, `--repo=${repo}`]);
  const sign = signArgs(key);
  const commit = (args) => signedCommit(repo, key, args);
  const trees = path.join(dir, 'trees');
  await fsp.rm(trees, { recursive: true, force: true });
  const perArch = Math.floor(nRefs / ARCHES.length);
  for (const a of ARCHES) {
    const rt = `runtime/org.bench.Platform/${a}/stable`;
    // flatpak reads a ref's metadata from the commit's xa.metadata (build-export sets it; so do we).
    const tree = async (name, meta, n, args) => {
      writeTree(path.join(trees, name), meta, n);
      return commit([...args, `--tree=dir=${path.join(trees, name)}`, `--add-metadata-string=xa.metadata=${meta}`]);
    };
    await tree(`rt-${a}`, `[Runtime]\nname=org.bench.Platform\nruntime=org.bench.Platform/${a}/stable\n`, 40, [
      `--branch=${rt}`,
      '-s',
      'runtime',
    ]);
    const fillers = [];
    for (let k = 0; k < 3; k++)
      fillers.push(
        await tree(
          `filler${k}-${a}`,
          `[Application]\nname=org.bench.Filler\nruntime=org.bench.Platform/${a}/stable\ncommand=x\n`,
          20 + k,
          ['--orphan', '--no-bindings', '-s', `filler ${k}`],
        ),
      );
    for (const app of APPS)
      await tree(`${app}-${a}`, `[Application]\nname=${app}\nruntime=org.bench.Platform/${a}/stable\ncommand=x\n`, 20, [
        `--branch=app/${app}/${a}/stable`,
        '-s',
        app,
      ]);
    const heads = path.join(repo, 'refs/heads');
    for (let i = 0; i < perArch - 1 - APPS.length; i++) {
      const ref = `app/org.bench.Filler${String(i).padStart(5, '0')}/${a}/stable`;
      fs.mkdirSync(path.dirname(path.join(heads, ref)), { recursive: true });
      fs.writeFileSync(path.join(heads, ref), `${fillers[i % fillers.length]}\n`);
    }
  }
  await runOk('flatpak', [
    'build-update-repo',
    `--collection-id=${CID}`,
    '--title=Flathub-scale bench',
    ...sign,
    `--gpg-import=${key.pub}`,
    repo,
  ]);
  await fsp.rm(trees, { recursive: true, force: true });
  fs.writeFileSync(path.join(dir, '.done'), '');
  log(`flathub fixture: ${nRefs} refs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { dir, repo, key: key.pub, nRefs };
}

export const OPS = ['create', 'list', 'verify'];

/** The command line of one operation on upstream `fx` (create: into `target`; list, verify: of `target`). */
export function opCommand(op, fx, target, build) {
  if (op === 'create')
    return sideloadCommand(
      ['create', '--json', '--quiet', '--repo', fx.repo, '--gpg-import', fx.key, '--arch', 'x86_64', target, ...APPS],
      {},
      build,
    );
  if (op === 'list') return sideloadCommand(['list', '--json', target], {}, build);
  return sideloadCommand(['verify', target], {}, build);
}

/** Runs create/list/verify on the small and the large upstream, alternating which goes first each round. */
export async function flathubBench(o, nRefs = 5000, small = 50) {
  const big = await ensureFlathubFixture(o.work, nRefs);
  const little = await ensureFlathubFixture(o.work, small);
  const samples = {
    [small]: Object.fromEntries(OPS.map((k) => [k, []])),
    [nRefs]: Object.fromEntries(OPS.map((k) => [k, []])),
  };
  for (let i = 0; i < o.runs; i++) {
    log(`flathub round ${i + 1}/${o.runs}`);
    const order = i % 2 ? [big, little] : [little, big];
    const targets = new Map();
    for (const op of OPS) {
      for (const fx of order) {
        if (op === 'create') {
          const t = path.join(o.work, 'targets', `flathub-${fx.nRefs}-${i}`);
          await fsp.rm(t, { recursive: true, force: true });
          await fsp.mkdir(t, { recursive: true });
          targets.set(fx.nRefs, t);
        }
        const [cmd, args, opts] = opCommand(op, fx, targets.get(fx.nRefs));
        const r = await measure(cmd, args, opts);
        if (r.code !== 0)
          throw new Error(
            `flathub ${op} (${fx.nRefs} refs) exited ${r.code}: ${r.stderr.slice(-3000)} ${r.stdout.slice(-1000)}`,
          );
        samples[fx.nRefs][op].push(r);
        log(
          `  ${op}, ${fx.nRefs} refs: ${fmtS(r.wall)} s (CPU ${fmtS(r.cpu ?? 0)} s), ${(r.rssKb / 1024).toFixed(0)} MiB`,
        );
      }
    }
  }
  const rows = OPS.map((op) => {
    const a = samples[nRefs][op];
    const b = samples[small][op];
    return {
      op,
      wallBig: median(a.map((x) => x.wall)),
      wallSmall: median(b.map((x) => x.wall)),
      ratio: median(a.map((x, i) => x.wall / b[i].wall)),
      cpuRatio: a.every((x) => x.cpu != null) ? median(a.map((x, i) => x.cpu / b[i].cpu)) : null,
      rssBigKb: Math.max(...a.map((x) => x.rssKb)),
      rssSmallKb: Math.max(...b.map((x) => x.rssKb)),
    };
  });
  console.log(`\nFlathub scale: ${nRefs}-ref upstream vs ${small}-ref upstream (paired, median of ${o.runs} rounds)\n`);
  console.log(
    markdownTable(
      [
        'operation',
        `${nRefs} refs s`,
        `${small} refs s`,
        'paired ratio',
        'CPU ratio',
        `RSS ${nRefs} MiB`,
        `RSS ${small} MiB`,
        'RSS ratio',
      ],
      rows.map((r) => [
        `sideload ${r.op}`,
        fmtS(r.wallBig),
        fmtS(r.wallSmall),
        fmtX(r.ratio),
        fmtX(r.cpuRatio),
        (r.rssBigKb / 1024).toFixed(0),
        (r.rssSmallKb / 1024).toFixed(0),
        fmtX(r.rssBigKb / r.rssSmallKb),
      ]),
    ),
  );
  const goals = rows.flatMap((r) => [
    {
      goal: `4. ${r.op} from/on a ${nRefs}-ref upstream within 2x of ${small} refs`,
      met: r.ratio <= 2,
      detail: fmtX(r.ratio),
    },
    {
      goal: `4. ${r.op} peak RSS within 1.5x`,
      met: r.rssBigKb <= 1.5 * r.rssSmallKb,
      detail: `${(r.rssBigKb / 1024).toFixed(0)} vs ${(r.rssSmallKb / 1024).toFixed(0)} MiB`,
    },
  ]);
  return {
    rows,
    goals,
    samples: Object.fromEntries(
      Object.entries(samples).map(([k, v]) => [
        k,
        Object.fromEntries(
          Object.entries(v).map(([op, s]) => [
            op,
            s.map((x) => ({ wall: Math.round(x.wall), cpu: x.cpu, rssKb: x.rssKb })),
          ]),
        ),
      ]),
    ),
  };
}
