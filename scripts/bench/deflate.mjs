// Deflate on the mix: CPU and ratio of node's zlib at each level, of the system's libdeflate at 6 and 1 when it loads
// (what the copy workers use for objects up to 1 MiB: dist/repo/libdeflate.js, built by `npm run bench`), and of any
// other deflate given with --deflate-lib (an ES module exporting deflateSync(bytes, { level }), e.g. fflate), over the
// real files of the realistic mix (random blobs excluded: the copy stores them at level 0). Runs in this process, one
// file at a time.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { log } from './proc.mjs';
import { markdownTable } from './report.mjs';
import { planRealMix } from './realmix.mjs';

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export async function deflateBench(o) {
  const files = planRealMix(o.sizeMb, o.seed).filter((f) => f.kind === 'real');
  const bufs = files.map((f) => fs.readFileSync(f.src));
  const total = bufs.reduce((a, b) => a + b.length, 0);
  const impls = [6, 5, 4, 3, 2, 1].map((level) => [
    `zlib ${level}${level === 6 ? ' (ostree; the copy without libdeflate)' : ''}`,
    (b) => zlib.deflateRawSync(b, { level, memLevel: 9 }),
  ]);
  const { loadLibdeflate } = await import('../../dist/repo/libdeflate.js');
  const ld = loadLibdeflate();
  if (ld) {
    const most = Math.max(...bufs.map((b) => b.length));
    const out = Buffer.allocUnsafe(Math.max(ld.bound(6, most), ld.bound(1, most)));
    for (const level of [6, 1]) impls.push([`libdeflate ${level}`, (b) => out.subarray(0, ld.compress(level, b, out))]);
  } else log('deflate: libdeflate not available (koffi or libdeflate.so.0 missing)');
  if (o.deflateLib) {
    const lib = await import(o.deflateLib);
    for (const level of [6, 1]) impls.push([`${o.deflateLib} ${level}`, (b) => lib.deflateSync(b, { level })]);
  }
  log(`deflate: ${bufs.length} real files, ${(total / 1048576).toFixed(1)} MiB`);
  const rows = [];
  for (const [name, fn] of impls) {
    const cpus = [];
    let out = 0;
    for (let rep = 0; rep < Math.max(1, o.runs); rep++) {
      const c0 = cpuMs();
      out = 0;
      for (const b of bufs) out += fn(b).length;
      cpus.push(cpuMs() - c0);
    }
    const cpu = cpus.sort((a, b) => a - b)[cpus.length >> 1];
    rows.push({
      name,
      cpuMs: Math.round(cpu),
      ratio: total / out,
      outBytes: out,
      mibPerCpuS: total / 1048576 / (cpu / 1000),
    });
  }
  const base = rows[0];
  console.log(
    `\nDeflate on the real files of the mix (${bufs.length} files, ${(total / 1048576).toFixed(1)} MiB; median CPU of ${Math.max(1, o.runs)})\n`,
  );
  console.log(
    markdownTable(
      ['deflate', 'CPU s', 'MiB/CPU s', 'ratio', 'output vs zlib 6', 'CPU vs zlib 6'],
      rows.map((r) => [
        r.name,
        (r.cpuMs / 1000).toFixed(2),
        r.mibPerCpuS.toFixed(1),
        r.ratio.toFixed(3),
        `${((100 * r.outBytes) / base.outBytes - 100).toFixed(1)}%`,
        `${(r.cpuMs / base.cpuMs).toFixed(2)}x`,
      ]),
    ),
  );
  return { files: bufs.length, bytes: total, rows };
}
