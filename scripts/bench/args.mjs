// Options of `npm run bench` (scripts/bench.mjs).
import os from 'node:os';
import path from 'node:path';
import { die } from './proc.mjs';

export function parseArgs(argv, caseKeys) {
  const o = {
    sizeMb: null,
    files: 20000,
    runs: null,
    ab: null,
    treeDirs: 20000,
    httpProtocol: 'HTTP/1.0',
    work: path.join(os.tmpdir(), 'sideload-bench'),
    seed: 1,
    only: null,
    scaleCheck: false,
    keep: false,
    mix: 'real',
    quick: false,
    flathubRefs: 5000,
    deflateLib: null,
    media: 'auto',
    writeMbps: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[++i];
      if (v === undefined) die(`${a} needs a value`);
      return v;
    };
    const num = () => {
      const n = Number(val());
      if (!Number.isFinite(n) || n <= 0) die(`${a} needs a positive number`);
      return n;
    };
    const name = a.split('=')[0];
    if (name === '--size-mb') o.sizeMb = num();
    else if (name === '--files') o.files = Math.round(num());
    else if (name === '--runs') o.runs = Math.round(num());
    else if (name === '--work') o.work = path.resolve(val());
    else if (name === '--seed') o.seed = Math.round(num());
    else if (name === '--only')
      o.only = val()
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    else if (name === '--scale-check') o.scaleCheck = true;
    else if (name === '--keep') o.keep = true;
    else if (name === '--quick') o.quick = true;
    else if (name === '--flathub-refs') o.flathubRefs = Math.round(num());
    else if (name === '--tree-dirs') o.treeDirs = Math.round(num());
    else if (name === '--http11') o.httpProtocol = 'HTTP/1.1';
    else if (name === '--ab')
      o.ab = val()
        .split(',')
        .map((s) => path.resolve(s.trim()));
    else if (name === '--write-mbps') o.writeMbps = num();
    else if (name === '--deflate-lib') o.deflateLib = path.resolve(val());
    else if (name === '--media') {
      o.media = val();
      if (!['auto', 'ext4', 'dir'].includes(o.media)) die('--media is auto, ext4 or dir');
    } else if (name === '--mix') {
      o.mix = val();
      if (o.mix !== 'real' && o.mix !== 'generated') die('--mix is real or generated');
    } else if (name === '-h' || name === '--help') {
      console.log(`usage: npm run bench -- [options]
  --mix real|generated  real (default): real files of this system (/usr/share/doc, /usr/lib/python3*,
                  /usr/share/locale, shared libraries; by sorted path) for 70% of the bytes + random blobs;
                  generated: the seeded synthetic tree of earlier rounds (uses --files)
  --size-mb N     fixture size in MiB of file content (default 384 real, 1024 generated; --quick 96)
  --files N       generated mix: number of files, symlinks included (default 20000; --quick 3000)
  --runs N        rounds; each pair of cases alternates its order per round, ratios are the median of the
                  per-round ratios (default 3; 7 with --ab)
  --work DIR      where fixtures are cached and targets written (default ${path.join(os.tmpdir(), 'sideload-bench')})
  --seed N        content seed (default 1)
  --only a,b      run only the cases whose key contains one of these strings (keys: ${caseKeys.join(', ')},
                  flathub, deflate); without --only every case but the extra ones (pull-local-inst, sideload-inst,
                  sideload-inst-l1) runs
  --deflate-lib F   also measure this ES module's deflateSync(bytes, { level }) in the deflate part
  --flathub-refs N  refs in the Flathub-scale upstream (default 5000; compared with 50)
  --quick         small sizes (96 MiB real mix), so a run fits in a few minutes on a loaded machine
  --scale-check   instead: sideload from the installation, the repo and HTTP at 1x and 3x
                  --size-mb (and --files), compare peak RSS
  --ab A,B        instead: A/B of two (or more) builds of sideload, each a dist/ directory (DIR/cli/main.cjs): the
                  sideload cases (--only: sideload-inst-fsync, sideload-repo, sideload-url, sideload-rerun,
                  flathub-create, flathub-list, flathub-verify, bigtree-repo) per build, alternating; ratios B/A
  --tree-dirs N   directories of the bigtree-repo case (default 20000)
  --http11        the HTTP server answers as HTTP/1.1 (keep-alive, TCP_NODELAY); python's default is HTTP/1.0, a
                  connection per request
  --media auto|ext4|dir  where targets are written: ext4 = a fresh ext4 filesystem with a journal on a loop
                  device, made for this run (needs root); dir = a directory under --work, with a 65 s wait
                  between rounds (see scripts/bench/media.mjs); auto (default): ext4 when root, else dir
  --write-mbps N  throttle the ext4 media's writes to N MB/s (10^6 bytes; the blkio cgroup of cgroup v1, as root),
                  like a USB stick: every case, peers included, writes through the same limit
  --keep          keep the last target of each case (and the ext4 media mounted)`);
      process.exit(0);
    } else die(`unknown option ${a}`);
  }
  if (o.quick && o.files === 20000) o.files = 3000;
  if (o.writeMbps && o.media === 'dir') die('--write-mbps needs the ext4 media');
  if (o.ab && o.ab.length < 2) die('--ab takes two or more dist/ directories: A,B');
  o.runs ??= o.ab ? 7 : 3;
  o.sizeMb ??= o.quick ? 96 : o.mix === 'real' ? 384 : 1024;
  return o;
}
