#!/usr/bin/env node
// `npm run bench`: sideload create against its peers in one run, with paired alternation (A B, B A, ... per pair;
// median of the per-round ratios): flatpak create-usb from an installation, ostree pull --mirror over HTTP from a
// plain static server (python3 -m http.server), cp -a && sync from an archive repo, a re-run with nothing new, and
// the Flathub-scale upstream (5,000 refs vs 50). See docs/benchmark.md; the parts are in scripts/bench/.
//
//   node scripts/bench.mjs [--quick] [--mix real|generated] [--size-mb N] [--files N] [--runs N] [--work DIR]
//                          [--seed N] [--only a,b] [--flathub-refs N] [--scale-check] [--keep]
//   node scripts/bench.mjs --ab DIR_A,DIR_B [--only cases] [--runs N] [--quick]   (A/B of two builds: bench/ab.mjs)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from './bench/args.mjs';
import { abBench } from './bench/ab.mjs';
import { describeFixture, ensureFixture } from './bench/fixture.mjs';
import { deflateBench } from './bench/deflate.mjs';
import { flathubBench } from './bench/flathub.mjs';
import { CASES, resolveCommits, selectCases, startStaticServer } from './bench/peers.mjs';
import { TIME_BIN, arch, cli, die, hasCommand, log, root } from './bench/proc.mjs';
import { MB, fmtS, fmtX, goals, loadavg, printGoals, table, versions, writeJson } from './bench/report.mjs';
import { prepareMedia } from './bench/media.mjs';
import { runRounds, summarise } from './bench/runner.mjs';

async function main() {
  const o = parseArgs(
    process.argv.slice(2),
    CASES.map((c) => c.key),
  );
  for (const t of ['flatpak', 'ostree', 'gpg', 'python3']) if (!(await hasCommand(t))) die(`needs ${t}`);
  const started = new Date();
  if (o.ab) return abBench(o, started);
  if (!fs.existsSync(cli)) die(`${cli} is missing: run npm run build`);
  if (!TIME_BIN) log('no /usr/bin/time: peak RSS from polling /proc/<pid>/status VmHWM');
  // Each round holds every case's target at once (8 x the content size is room to spare; 3x the fixture for
  // --scale-check).
  const media = await prepareMedia(o, (o.scaleCheck ? 3 : 1) * o.sizeMb * 8);
  o.mediaSettles = media.settles;
  try {
    if (o.scaleCheck) await scaleCheck(o, started, media);
    else await mainBench(o, started, media);
  } finally {
    await media.release();
  }
}

async function mainBench(o, started, media) {
  let cases = selectCases(o.only);
  if (!media.throttle && cases.some((c) => c.mbps)) {
    log('no write throttle (needs the ext4 media and cgroup v1 blkio, as root): the 30 MB/s cases are skipped');
    cases = cases.filter((c) => !c.mbps);
  }
  const withFlathub = !o.only || o.only.some((s) => 'flathub'.includes(s));
  const load = { before: loadavg() };
  let rows = [];
  let fx = null;
  let ctx = {};
  if (cases.length) {
    fx = await ensureFixture(o, o.sizeMb, true);
    log(`fixture: ${describeFixture(fx.info)}`);
    const server = await startStaticServer(fx.repo, o.httpProtocol);
    ctx = { fx, url: server.url, throttle: media.throttle, ...(await resolveCommits(fx, await arch())) };
    try {
      rows = summarise(cases, await runRounds(cases, o, ctx));
    } finally {
      server.close();
    }
  }
  const flathub = withFlathub ? await flathubBench(o, o.flathubRefs) : null;
  const deflate = !o.only || o.only.some((s) => 'deflate'.includes(s)) ? await deflateBench(o) : null;
  load.after = loadavg();
  console.log(
    `\nLoad average (1/5/15 min) before ${load.before.join(' ')}, after ${load.after.join(' ')} on ${os.cpus().length} CPUs: absolute times on a shared machine vary; the paired ratios (same round, alternating order) much less.`,
  );
  const gl = [];
  if (rows.length) {
    const payload = fx.info.repoObjects.bytes;
    console.log(`Fixture: ${describeFixture(fx.info)}`);
    console.log(`Targets: ${media.describe}`);
    console.log(
      `Payload for MB/s: ${(payload / MB).toFixed(0)} MiB (the archive repo's objects/); ${o.runs} round(s)\n`,
    );
    console.log(table(rows, payload));
    if (ctx.pullLocalHardlinks?.linked)
      console.log(
        `\nNote: ostree pull-local from the archive repo hardlinked ${ctx.pullLocalHardlinks.linked}/${ctx.pullLocalHardlinks.total} .filez objects (same filesystem).`,
      );
    gl.push(...goals(rows));
  }
  if (flathub) gl.push(...flathub.goals);
  printGoals(gl);
  const file = await writeJson({
    date: started.toISOString(),
    mode: 'main',
    options: o,
    machine: await versions(),
    media: media.kind,
    load,
    fixture: fx?.info ?? null,
    payloadBytes: fx?.info.repoObjects.bytes ?? null,
    rows,
    flathub,
    deflate,
    goals: gl,
  });
  console.log(`\nWrote ${path.relative(root, file)}`);
}

async function scaleCheck(o, started, media) {
  const sizes = [o.sizeMb, o.sizeMb * 3];
  const keys = ['sideload-inst-fsync', 'sideload-repo', 'sideload-url'].filter(
    (k) => !o.only || o.only.some((x) => k.includes(x)),
  );
  const cases = keys.map((k) => ({ ...CASES.find((x) => x.key === k), pair: undefined }));
  const rows = [];
  const load = { before: loadavg() };
  for (const size of sizes) {
    // 3x the payload: 3x the bytes (and 3x the files of a generated mix; a real mix grows its file count with bytes).
    const fx = await ensureFixture(size === sizes[0] ? o : { ...o, files: o.files * 3 }, size, true);
    log(`fixture ${size} MiB: ${describeFixture(fx.info)}`);
    const server = await startStaticServer(fx.repo, o.httpProtocol);
    const ctx = { fx, url: server.url, ...(await resolveCommits(fx, await arch())) };
    let samples;
    try {
      samples = await runRounds(cases, o, ctx, `${size} MiB: `);
    } finally {
      server.close();
    }
    for (const r of summarise(cases, samples))
      rows.push({ ...r, sizeMb: size, payloadBytes: fx.info.repoObjects.bytes, objects: fx.info.repoObjects.files });
  }
  load.after = loadavg();
  console.log(
    `\nScale check: peak RSS of sideload create at 1x and 3x the payload (load ${load.before.join(' ')} -> ${load.after.join(' ')}); targets: ${media.describe}\n`,
  );
  console.log(
    '| case | fixture | objects | payload MiB | wall s | MB/s | peak RSS MiB |\n|---|---|---:|---:|---:|---:|---:|',
  );
  for (const r of rows)
    console.log(
      `| ${r.label} | ${r.sizeMb} MiB | ${r.objects} | ${(r.payloadBytes / MB).toFixed(0)} | ${fmtS(r.medianWall)} | ${(r.payloadBytes / MB / (r.medianWall / 1000)).toFixed(0)} | ${(r.maxRssKb / 1024).toFixed(0)} |`,
    );
  const gl = [];
  const maxRss = Math.max(...rows.map((r) => r.maxRssKb));
  gl.push({
    goal: '3. peak RSS <= 128 MiB',
    met: maxRss / 1024 <= 128,
    detail: `max ${(maxRss / 1024).toFixed(0)} MiB`,
  });
  for (const k of keys) {
    const [a, b] = rows.filter((r) => r.key === k);
    gl.push({
      goal: `3. ${a.label}: peak RSS flat at 3x the payload (within 10%)`,
      met: b.maxRssKb <= a.maxRssKb * 1.1,
      detail: `${(a.maxRssKb / 1024).toFixed(0)} -> ${(b.maxRssKb / 1024).toFixed(0)} MiB (${fmtX(b.maxRssKb / a.maxRssKb)})`,
    });
  }
  printGoals(gl);
  const file = await writeJson({
    date: started.toISOString(),
    mode: 'scale-check',
    options: o,
    machine: await versions(),
    media: media.kind,
    load,
    rows,
    goals: gl,
  });
  console.log(`\nWrote ${path.relative(root, file)}`);
}

main().catch((e) => {
  console.error(e?.stack ?? e);
  process.exit(1);
});
