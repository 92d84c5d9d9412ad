// A/B of builds of sideload (`--ab DIR_A,DIR_B[,…]`, each a dist/ directory with cli/main.cjs): per round and case,
// each build B after the first runs right next to A, in the order A B on even rounds and B A on odd ones (with more
// builds, each pair has its own A run); per case, the median over rounds of the ratio B/A for wall time, CPU time
// and peak RSS, with the min–max of the per-round ratios. Targets stay until the end (no deletes between runs: see
// settle() in runner.mjs). See docs/benchmark.md.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { ensureBigTree, TREE_APP } from './bigtree.mjs';
import { describeFixture, ensureFixture } from './fixture.mjs';
import { ensureFlathubFixture, opCommand } from './flathub.mjs';
import { CASES, resolveCommits, sideloadCommand, startStaticServer } from './peers.mjs';
import { arch, buildOf, die, log, measure, median, root, runOk } from './proc.mjs';
import { loadavg, markdownTable, versions, writeJson } from './report.mjs';
import { prepareMedia } from './media.mjs';
import { settle, timeCase } from './runner.mjs';

const MAIN = ['sideload-inst-fsync', 'sideload-repo', 'sideload-url', 'sideload-rerun'];
/** `flathub-*`: on the Flathub-scale upstream (list and verify of one drive made once); `bigtree-repo`: see bigtree.mjs. */
export const AB_CASES = [
  ...MAIN,
  'sideload-inst-30mbps',
  'flathub-create',
  'flathub-list',
  'flathub-verify',
  'bigtree-repo',
];

/** One timed run of a case that is not in peers.mjs's CASES. */
async function timeExtra(key, b, o, ctx) {
  const targets = path.join(o.work, 'targets');
  let cmd;
  if (key === 'bigtree-repo') {
    const t = path.join(targets, `ab-bigtree${b.tag}-${ctx.round}`);
    await fsp.mkdir(t, { recursive: true });
    const args = ['create', '--json', '--quiet', '--repo', ctx.tree.repo, '--gpg-import', ctx.tree.key, t, TREE_APP];
    cmd = sideloadCommand(args, {}, b);
  } else {
    const op = key.slice('flathub-'.length);
    let t = path.join(targets, 'ab-flathub-drive');
    if (op === 'create') t = path.join(targets, `ab-flathub${b.tag}-${ctx.round}`);
    else if (!ctx.flathubDrive) {
      await fsp.mkdir(t, { recursive: true });
      const [c, a, opts] = opCommand('create', ctx.flathub, t, ctx.builds[0]);
      await runOk(c, a, opts);
      ctx.flathubDrive = t;
    }
    await fsp.mkdir(t, { recursive: true });
    cmd = opCommand(op, ctx.flathub, t, b);
  }
  await runOk('sync', []);
  const r = await measure(...cmd);
  if (r.code !== 0) throw new Error(`${key} (${b.name}): exited ${r.code}\n${r.stderr.slice(-3000)}`);
  log(
    `  ${key} ${b.name}: ${(r.wall / 1000).toFixed(2)} s (CPU ${((r.cpu ?? 0) / 1000).toFixed(2)} s), ${(r.rssKb / 1024).toFixed(0)} MiB`,
  );
  return { wall: r.wall, cpu: r.cpu, rssKb: r.rssKb };
}

const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const fmtR = (s) => (s ? `${s.median.toFixed(2)}x (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : '-');

export async function abBench(o, started) {
  const builds = o.ab.map((dir, i) => ({ ...buildOf(dir, String.fromCharCode(65 + i)), tag: `-${i}` }));
  for (const b of builds) if (!fs.existsSync(b.cli)) die(`${b.cli} is missing (--ab takes dist/ directories)`);
  const keys = o.only ? AB_CASES.filter((k) => o.only.some((s) => k.includes(s))) : MAIN;
  if (!keys.length) die(`--ab: no case matches --only (cases: ${AB_CASES.join(', ')})`);
  const ctx = { builds };
  let server = null;
  if (keys.some((k) => MAIN.includes(k) || k === 'sideload-inst-30mbps')) {
    ctx.fx = await ensureFixture(o, o.sizeMb, true);
    log(`fixture: ${describeFixture(ctx.fx.info)}`);
    server = await startStaticServer(ctx.fx.repo, o.httpProtocol);
    Object.assign(ctx, { url: server.url, ...(await resolveCommits(ctx.fx, await arch())) });
  }
  if (keys.some((k) => k.startsWith('flathub'))) ctx.flathub = await ensureFlathubFixture(o.work, o.flathubRefs);
  if (keys.includes('bigtree-repo')) ctx.tree = await ensureBigTree(o.work, o.treeDirs);
  // Every run keeps its target until the end: room for all of them (a drive is under the content size).
  const media = await prepareMedia(o, o.sizeMb * o.runs * 2 * (builds.length - 1) * keys.length + 1024);
  o.mediaSettles = media.settles;
  ctx.throttle = media.throttle;
  if (keys.some((k) => CASES.find((c) => c.key === k)?.mbps) && !media.throttle)
    die('--ab: the 30 MB/s case needs the ext4 media and cgroup v1 blkio (root)');
  const load = { before: loadavg(), rounds: [] };
  // samples[key][j]: [{ a, b }] per round, b of builds[j + 1].
  const samples = Object.fromEntries(keys.map((k) => [k, builds.slice(1).map(() => [])]));
  const runOne = (key, b) => {
    const c = CASES.find((x) => x.key === key);
    if (!c) return timeExtra(key, b, o, ctx);
    return timeCase(c, o, Object.assign(ctx, { build: b }), (m) => log(`  ${b.name} ${m}`));
  };
  try {
    await settle(o, 0);
    for (let i = 0; i < o.runs; i++) {
      load.rounds.push(loadavg()[0]);
      log(`A/B round ${i + 1}/${o.runs} (load ${load.rounds[i]})`);
      for (const key of keys)
        for (const [j, b] of builds.slice(1).entries()) {
          const pair = {};
          ctx.round = `${i}-${j}`; // a target of its own per run (never deleted inside the run)
          for (const x of i % 2 ? [b, builds[0]] : [builds[0], b]) pair[x === b ? 'b' : 'a'] = await runOne(key, x);
          samples[key][j].push(pair);
        }
    }
  } finally {
    server?.close();
    await media.release();
  }
  load.after = loadavg();
  const rows = [];
  for (const key of keys)
    samples[key].forEach((s, j) => {
      const ratio = (f) => (s.every((p) => f(p.a) && f(p.b)) ? stat(s.map((p) => f(p.b) / f(p.a))) : null);
      const a = s.map((p) => p.a);
      rows.push({
        key,
        build: builds[j + 1].name,
        pairs: s.length,
        wall: ratio((x) => x.wall),
        cpu: ratio((x) => x.cpu),
        rss: ratio((x) => x.rssKb),
        a: {
          wall: median(a.map((x) => x.wall)),
          cpu: median(a.map((x) => x.cpu)),
          rssKb: median(a.map((x) => x.rssKb)),
        },
      });
    });
  console.log(`\nA/B: ${builds.map((b) => `${b.name} = ${b.dir}`).join(', ')}`);
  console.log(
    `Load average before ${load.before.join(' ')}, per round ${load.rounds.join(' ')}, after ${load.after.join(' ')}\n`,
  );
  console.log(
    markdownTable(
      ['case', 'vs A', 'pairs', 'wall (min–max)', 'CPU (min–max)', 'peak RSS (min–max)', 'A: wall s / CPU s / MiB'],
      rows.map((r) => [
        r.key,
        `${r.build}/A`,
        r.pairs,
        fmtR(r.wall),
        fmtR(r.cpu),
        fmtR(r.rss),
        `${(r.a.wall / 1000).toFixed(2)} / ${(r.a.cpu / 1000).toFixed(2)} / ${(r.a.rssKb / 1024).toFixed(0)}`,
      ]),
    ),
  );
  const file = await writeJson({
    date: started.toISOString(),
    mode: 'ab',
    options: o,
    builds,
    machine: await versions(),
    media: media.kind,
    load,
    fixture: ctx.fx?.info ?? null,
    rows,
    samples,
  });
  console.log(`\nWrote ${path.relative(root, file)}`);
}
