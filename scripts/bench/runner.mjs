// Running the cases: one timed process per case and round, rounds alternating the order within each pair
// (A B, then B A, ...), so that drift on a shared machine hits both sides of a ratio alike.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { caseCommand, setupTarget } from './peers.mjs';
import { forEachFile, log, measure, median, runOk } from './proc.mjs';

export async function timeCase(c, o, ctx, log) {
  const target = await setupTarget(c, o, ctx);
  await runOk('sync', []); // earlier runs' dirty pages are not flushed on this run's time
  const [cmd, args, opts] = caseCommand(c, ctx.fx, ctx, target);
  // The re-run must write nothing on the drive: a marker made before it, then nothing under the target changed after.
  const marker = path.join(o.work, 'targets', 'rerun-marker');
  if (c.key === 'sideload-rerun') fs.writeFileSync(marker, '');
  if (c.mbps) ctx.throttle(c.mbps);
  let r;
  try {
    r = await measure(cmd, args, opts);
  } finally {
    if (c.mbps) ctx.throttle(o.writeMbps ?? 0);
  }
  if (r.code !== 0)
    throw new Error(
      `${c.label}: exited ${r.code}\n${cmd} ${args.join(' ')}\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`,
    );
  let copied = null;
  if (c.tool === 'sideload') {
    const j = JSON.parse(r.stdout);
    if (!j.ok) throw new Error(`${c.label}: ${r.stdout.slice(0, 2000)}`);
    copied = j.objects?.copied ?? null;
  }
  let changed = null;
  if (c.key === 'sideload-rerun') {
    changed = (await runOk('find', [target, '-cnewer', marker, '-print'])).split('\n').filter(Boolean);
    if (changed.length)
      log(
        `${c.label}: WROTE on the drive: ${changed.slice(0, 5).join(', ')}${changed.length > 5 ? ` (+${changed.length - 5})` : ''}`,
      );
  }
  log(
    `${c.label}: ${(r.wall / 1000).toFixed(2)} s${r.cpu !== null ? ` (CPU ${(r.cpu / 1000).toFixed(2)} s)` : ''}, ${(r.rssKb / 1024).toFixed(0)} MiB${copied !== null ? `, ${copied} objects copied` : ''}`,
  );
  if (c.key === 'pull-local-repo' && !ctx.linkChecked) {
    // ostree's local pulls hardlink objects when both repos are on one filesystem: say so if it happened.
    ctx.linkChecked = true;
    ctx.pullLocalHardlinks = await countHardlinks(path.join(target, 'repo/objects'));
  }
  return { wall: r.wall, rssKb: r.rssKb, cpu: r.cpu, copied, ...(changed ? { changedOnDrive: changed.length } : {}) };
}

async function countHardlinks(dir) {
  let linked = 0;
  let total = 0;
  await forEachFile(dir, (p, st) => {
    if (!p.endsWith('.filez')) return;
    total++;
    if (st.nlink > 1) linked++;
  }).catch(() => {});
  return { linked, total };
}

/**
 * Between rounds: delete the previous round's targets, then wait out the kernel's "recently deleted" window. On ext4
 * without a journal (this machine's disk) an inode creation skips every free inode whose deletion time is less than
 * 60 s old (RECENTCY_MIN in fs/ext4/ialloc.c; 360 s while its inode table block is still dirty, i.e. before the
 * writeback after dirty_expire_centisecs), one buffer-cache lookup each, scanning from the group's start: a copy
 * started right after deleting a few thousand files ran 3x slower here, and 31 s after still spent 19% of its CPU in
 * `recently_deleted`. So no case deletes anything inside a round, and no round starts inside the window.
 */
export async function settle(o, round) {
  const targets = path.join(o.work, 'targets');
  const old = (await fsp.readdir(targets).catch(() => [])).filter((n) => n !== 'rerun');
  for (const n of old) await fsp.rm(path.join(targets, n), { recursive: true, force: true });
  const centisecs = (name, dflt) => {
    try {
      return Number(fs.readFileSync(`/proc/sys/vm/${name}`, 'utf8')) || dflt;
    } catch {
      return dflt;
    }
  };
  // Clean after expire + one writeback interval; then 60 s from the deletion, plus a margin.
  const cleanMs = (centisecs('dirty_expire_centisecs', 3000) + centisecs('dirty_writeback_centisecs', 500)) * 10;
  const waitMs = Math.min(120_000, Math.max(60_000, cleanMs) + 5000);
  // Round 0 follows the fixture build (its tree was deleted) or an earlier bench. Fresh media (media.mjs) have a
  // journal: no window to wait out.
  if (o.mediaSettles !== false && (old.length || round === 0)) {
    log(`waiting ${(waitMs / 1000).toFixed(0)} s for deleted inodes to age (see settle() in scripts/bench/runner.mjs)`);
    await new Promise((r) => setTimeout(r, waitMs));
  }
}

/**
 * Runs `cases` for o.runs rounds. Within a round, each case whose `pair` is also selected runs next to its peer, in
 * the order A B on even rounds and B A on odd ones; a case already run this round is not run again. Returns
 * Map(key -> [sample per round]).
 */
export async function runRounds(cases, o, ctx, label = '') {
  const keys = new Set(cases.map((c) => c.key));
  const samples = new Map(cases.map((c) => [c.key, []]));
  // A peer runs inside its partner's group (right before or after it), not on its own.
  const peers = new Set(cases.filter((c) => c.pair && keys.has(c.pair)).map((c) => c.pair));
  const order = [];
  for (const c of cases) {
    if (c.pair && keys.has(c.pair)) order.push([c.key, c.pair]);
    else if (!peers.has(c.key)) order.push([c.key]);
  }
  for (let i = 0; i < o.runs; i++) {
    await settle(o, i);
    ctx.round = i;
    log(`${label}round ${i + 1}/${o.runs}`);
    const done = new Set();
    for (const group of order) {
      for (const key of i % 2 ? [...group].reverse() : group) {
        if (done.has(key)) continue;
        done.add(key);
        const c = cases.find((x) => x.key === key);
        samples.get(key).push(await timeCase(c, o, ctx, (m) => log(`  ${label}${m}`)));
      }
    }
  }
  return samples;
}

/** Rows for the report: medians, and for paired cases the median of the per-round ratios. */
export function summarise(cases, samples) {
  const rows = cases.map((c) => {
    const s = samples.get(c.key);
    return {
      key: c.key,
      label: c.label,
      tool: c.tool,
      pair: c.pair ?? null,
      walls: s.map((x) => Math.round(x.wall)),
      rssKb: s.map((x) => x.rssKb),
      medianWall: median(s.map((x) => x.wall)),
      cpu: s.map((x) => x.cpu),
      medianCpu: s.every((x) => x.cpu !== null) ? median(s.map((x) => x.cpu)) : null,
      maxRssKb: Math.max(...s.map((x) => x.rssKb)),
      copied: s.map((x) => x.copied),
      ...(c.key === 'sideload-rerun' ? { changedOnDrive: s.map((x) => x.changedOnDrive ?? 0) } : {}),
    };
  });
  for (const r of rows) {
    const p = r.pair && samples.get(r.pair);
    if (!p) continue;
    const a = samples.get(r.key);
    r.ratios = a.map((x, i) => x.wall / p[i].wall);
    r.pairedRatio = median(r.ratios);
    if (a.every((x, i) => x.cpu != null && p[i].cpu)) r.pairedCpuRatio = median(a.map((x, i) => x.cpu / p[i].cpu));
  }
  return rows;
}
