// The bench's report: a table per run, the issue's goals as paired ratios, the machine, and the JSON kept in
// bench-results/.
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { root, run } from './proc.mjs';

export const MB = 1048576;
export const fmtS = (ms) => (ms / 1000).toFixed(2);
export const fmtX = (x) => (x == null || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}x`);

export function markdownTable(head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => String(b[i]).length)));
  const line = (cells) =>
    `| ${cells.map((c, i) => (i === 0 ? String(c).padEnd(w[i]) : String(c).padStart(w[i]))).join(' | ')} |`;
  return [
    line(head),
    `|${w.map((n, i) => (i === 0 ? '-'.repeat(n + 2) : '-'.repeat(n + 1) + ':')).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

export function table(rows, payload) {
  const head = ['case', 'wall s', 'paired ratio', 'vs', 'CPU s', 'CPU ratio', 'MB/s', 'peak RSS MiB'];
  const body = rows.map((r) => [
    r.label,
    fmtS(r.medianWall),
    fmtX(r.pairedRatio),
    r.pairedRatio != null ? r.pair : '',
    r.medianCpu == null ? '-' : fmtS(r.medianCpu),
    fmtX(r.pairedCpuRatio),
    r.key === 'sideload-rerun' ? '-' : (payload / MB / (r.medianWall / 1000)).toFixed(0),
    (r.maxRssKb / 1024).toFixed(0),
  ]);
  return markdownTable(head, body);
}

/** The issue's goals (issue 15) that the main run measures; the Flathub-scale ones come from flathub.mjs. */
export function goals(rows) {
  const g = (key) => rows.find((r) => r.key === key);
  const out = [];
  const ratio = (goal, key, max) => {
    const r = g(key);
    if (!r || r.pairedRatio == null) return out.push({ goal, met: null, detail: 'not measured' });
    out.push({
      goal,
      met: r.pairedRatio <= max,
      detail: `${fmtX(r.pairedRatio)} (per round: ${r.ratios.map((x) => x.toFixed(2)).join(', ')}; CPU ${fmtX(r.pairedCpuRatio)})`,
    });
  };
  ratio('1. installation <= 0.5x flatpak create-usb (both fsync)', 'sideload-inst-fsync', 0.5);
  ratio('2. HTTP <= 1.0x ostree pull --mirror (same python3 http.server)', 'sideload-url', 1.0);
  ratio('   archive repo <= 1.0x ostree pull-local --untrusted (both check every object; fsync)', 'sideload-repo', 1.0);
  const [repo, cp] = [g('sideload-repo'), g('cp')];
  if (repo && cp)
    out.push({
      goal: "   archive repo vs cp -a && sync (the disk's limit; checks nothing), medians",
      met: null,
      info: true,
      detail: `${fmtX(repo.medianWall / cp.medianWall)} (${fmtS(repo.medianWall)} s against ${fmtS(cp.medianWall)} s)`,
    });
  const slow = g('sideload-inst-30mbps');
  if (slow?.pairedRatio != null)
    out.push({
      goal: '   installation vs flatpak create-usb on media writing 30 MB/s (a USB stick)',
      met: null,
      info: true,
      detail: `${fmtX(slow.pairedRatio)} (per round: ${slow.ratios.map((x) => x.toFixed(2)).join(', ')}; ${fmtS(slow.medianWall)} s)`,
    });
  const sl = rows.filter((r) => r.tool === 'sideload');
  if (sl.length) {
    const worst = Math.max(...sl.map((r) => r.maxRssKb)) / 1024;
    out.push({
      goal: '3. peak RSS <= 128 MiB (every sideload case)',
      met: worst <= 128,
      detail: `max ${worst.toFixed(0)} MiB (${sl.map((r) => `${r.key} ${(r.maxRssKb / 1024).toFixed(0)}`).join(', ')})`,
    });
  }
  ratio('5. re-run with nothing new <= 5% of the first run', 'sideload-rerun', 0.05);
  const rr = g('sideload-rerun');
  if (rr)
    out.push({
      goal: '5. re-run writes nothing on the drive',
      met: rr.changedOnDrive.every((n) => n === 0),
      detail: `paths changed per round: ${rr.changedOnDrive.join(', ')}`,
    });
  return out;
}

export function printGoals(list, title = 'Goals (issue 15)') {
  console.log(`\n${title}:`);
  for (const x of list)
    console.log(`  [${x.info ? 'info' : x.met === null ? ' ? ' : x.met ? 'met' : 'MISSED'}] ${x.goal}: ${x.detail}`);
}

export async function versions() {
  const v = async (cmd, args) => (await run(cmd, args)).stdout.split('\n')[0]?.trim() ?? '';
  return {
    node: process.version,
    ostree: (await run('ostree', ['--version'])).stdout.match(/Version: '?([\d.]+)/)?.[1] ?? '',
    flatpak: await v('flatpak', ['--version']),
    python: await v('python3', ['--version']),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memMiB: Math.round(os.totalmem() / MB),
    kernel: os.release(),
  };
}

export const loadavg = () => os.loadavg().map((x) => +x.toFixed(2));

export async function writeJson(data) {
  const dir = path.join(root, 'bench-results');
  await fsp.mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
  const file = path.join(dir, `bench-${data.mode ?? 'main'}-${stamp}.json`);
  await fsp.writeFile(file, JSON.stringify(data, null, 2) + '\n');
  return file;
}
