// The cases: sideload and its peers (flatpak create-usb, ostree pull --mirror over HTTP from a plain static server,
// cp -a + sync, ostree pull-local --untrusted), each as a command line run as its own process into a fresh target.
import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { CID } from './fixture.mjs';
import { defaultBuild, log, nodeFirstPath, runOk } from './proc.mjs';

/**
 * `pair`: the peer this case is compared with, by per-round ratio (paired alternation). `extra`: only with --only.
 * `mbps`: runs with the media's writes limited to this many MB/s (skipped where media.mjs cannot throttle).
 */
export const CASES = [
  { key: 'cp', label: 'cp -a objects/ && sync (archive repo)', tool: 'cp' },
  { key: 'create-usb', label: 'flatpak create-usb (fsync)', tool: 'flatpak' },
  { key: 'pull-mirror-http', label: 'ostree pull --mirror, HTTP 127.0.0.1 (fsync)', tool: 'ostree' },
  { key: 'pull-local-inst', label: 'ostree pull-local, installation (--disable-fsync)', tool: 'ostree', extra: true },
  { key: 'pull-local-repo', label: 'ostree pull-local --untrusted, archive repo (fsync)', tool: 'ostree' },
  { key: 'sideload-inst-fsync', label: 'sideload, installation (fsync)', tool: 'sideload', pair: 'create-usb' },
  {
    key: 'sideload-inst',
    label: 'sideload, installation (--no-fsync)',
    tool: 'sideload',
    pair: 'create-usb',
    extra: true,
  },
  {
    key: 'sideload-inst-l1',
    label: 'sideload, installation, --compression-level 1 (fsync)',
    tool: 'sideload',
    pair: 'create-usb',
    extra: true,
  },
  { key: 'sideload-repo', label: 'sideload, archive repo (fsync)', tool: 'sideload', pair: 'pull-local-repo' },
  { key: 'sideload-url', label: 'sideload, HTTP 127.0.0.1 (fsync)', tool: 'sideload', pair: 'pull-mirror-http' },
  // The same two on media that write 30 MB/s (media.mjs throttle), like a USB stick: `base` is the case they run.
  {
    key: 'create-usb-30mbps',
    base: 'create-usb',
    label: 'flatpak create-usb (fsync), 30 MB/s media',
    tool: 'flatpak',
    mbps: 30,
  },
  {
    key: 'sideload-inst-30mbps',
    base: 'sideload-inst-fsync',
    label: 'sideload, installation (fsync), 30 MB/s media',
    tool: 'sideload',
    pair: 'create-usb-30mbps',
    mbps: 30,
  },
  {
    key: 'sideload-rerun',
    label: 'sideload re-run, installation, nothing new',
    tool: 'sideload',
    pair: 'sideload-inst-fsync',
  },
];

export function selectCases(only) {
  return CASES.filter((c) => (only ? only.some((s) => c.key.includes(s)) : !c.extra));
}

export function sideloadArgs(fx, source, url) {
  if (source === 'installation') return ['--installation-dir', fx.env.FLATPAK_USER_DIR];
  if (source === 'repo') return ['--repo', fx.repo, '--gpg-import', fx.key];
  return ['--url', url, '--collection-id', CID, '--gpg-import', fx.key];
}

export async function resolveCommits(fx, arch) {
  const refs = [`app/org.bench.App/${arch}/stable`, `runtime/org.bench.Platform/${arch}/stable`];
  const inst = path.join(fx.env.FLATPAK_USER_DIR, 'repo');
  const instCommits = [];
  for (const ref of refs)
    instCommits.push((await runOk('ostree', [`--repo=${inst}`, 'rev-parse', `bench:${ref}`])).trim());
  return { refs, inst, instCommits };
}

/** A sideload run of `build` (proc.mjs buildOf; default this checkout's dist/), through its launcher. */
export const sideloadCommand = (args, env, build = defaultBuild) => [
  build.argv[0],
  [...build.argv.slice(1), ...args],
  { env: { ...env, PATH: nodeFirstPath(env) } },
];

/** Per case: the command line for one run into `target` (prepared by setupTarget); sideload is `ctx.build`'s. */
export function caseCommand(c, fx, ctx, target) {
  const sl = (extra) =>
    sideloadCommand(['create', '--json', '--quiet', ...extra, target, 'org.bench.App'], fx.env, ctx.build);
  const repo = path.join(target, 'repo');
  switch (c.base ?? c.key) {
    case 'cp':
      return [
        'sh',
        ['-c', 'cp -a "$1" "$2" && sync -f "$2"', 'sh', path.join(fx.repo, 'objects'), path.join(target, 'objects')],
      ];
    case 'create-usb':
      return ['flatpak', ['--user', 'create-usb', target, 'org.bench.App'], { env: fx.env }];
    case 'pull-mirror-http':
      return ['ostree', ['pull', `--repo=${repo}`, '--mirror', 'bench', ...ctx.refs]];
    case 'pull-local-inst':
      return ['ostree', ['pull-local', `--repo=${repo}`, '--disable-fsync', ctx.inst, ...ctx.instCommits]];
    case 'pull-local-repo':
      // --untrusted: ostree checks every object's checksum, as sideload does from any source (a trusted local pull
      // copies or hardlinks the files unchecked: cp is that case's reference).
      return ['ostree', ['pull-local', `--repo=${repo}`, '--untrusted', fx.repo, ...ctx.refs]];
    case 'sideload-inst':
      return sl(['--no-fsync', ...sideloadArgs(fx, 'installation')]);
    case 'sideload-inst-fsync':
    case 'sideload-rerun':
      return sl(sideloadArgs(fx, 'installation'));
    case 'sideload-inst-l1':
      return sl(['--compression-level', '1', ...sideloadArgs(fx, 'installation')]);
    case 'sideload-repo':
      return sl(sideloadArgs(fx, 'repo'));
    case 'sideload-url':
      return sl(sideloadArgs(fx, 'url', ctx.url));
  }
  throw new Error(c.key);
}

/** A fresh target for one timed run (untimed setup); the re-run case gets one drive made once and reused. */
export async function setupTarget(c, o, ctx) {
  if (c.key === 'sideload-rerun') {
    const target = path.join(o.work, 'targets', 'rerun');
    if (!ctx.rerunReady) {
      await fsp.rm(target, { recursive: true, force: true });
      await fsp.mkdir(target, { recursive: true });
      const [cmd, args, opts] = caseCommand(
        CASES.find((x) => x.key === 'sideload-inst'),
        ctx.fx,
        ctx,
        target,
      );
      await runOk(cmd, args, opts);
      ctx.rerunReady = true;
    }
    return target;
  }
  const target = path.join(o.work, 'targets', `${c.key}${ctx.build?.tag ?? ''}-${ctx.round ?? 0}`);
  await fsp.rm(target, { recursive: true, force: true });
  await fsp.mkdir(target, { recursive: true });
  const repo = path.join(target, 'repo');
  if (c.key.startsWith('pull-')) await runOk('ostree', ['init', '--mode=archive', `--repo=${repo}`]);
  if (c.key === 'pull-mirror-http') {
    await runOk('ostree', [
      'remote',
      'add',
      `--repo=${repo}`,
      `--gpg-import=${ctx.fx.key}`,
      `--collection-id=${CID}`,
      'bench',
      ctx.url,
    ]);
  }
  return target;
}

/**
 * The HTTP peer: `python3 -m http.server` (a plain static server, its own process) bound to 127.0.0.1 on a free
 * port, serving `dir`. Both ostree and sideload pull from it. It answers as HTTP/1.0 (one connection per request)
 * unless `protocol` is `HTTP/1.1` (keep-alive): then its sockets get TCP_NODELAY, as any real server's, since it
 * writes a response's headers and body in two sends, and over a kept-alive connection Nagle's algorithm holds the
 * body back until the client's delayed ACK (~40 ms per request).
 */
export async function startStaticServer(dir, protocol = 'HTTP/1.0') {
  const nodelay = 'import runpy, socketserver; socketserver.StreamRequestHandler.disable_nagle_algorithm = True; ';
  const main =
    protocol === 'HTTP/1.0'
      ? ['-m', 'http.server']
      : ['-c', `${nodelay}runpy.run_module('http.server', run_name='__main__')`];
  const args = ['-u', ...main, '--bind', '127.0.0.1', '--directory', dir, '--protocol', protocol, '0'];
  const p = spawn('python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await new Promise((resolve, reject) => {
    let out = '';
    const t = setTimeout(() => reject(new Error(`python3 -m http.server did not start: ${out}`)), 20_000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(t);
        resolve(Number(m[1]));
      }
    });
    p.stderr.resume(); // its access log
    p.on('exit', (code) => reject(new Error(`python3 -m http.server exited ${code}: ${out}`)));
  });
  log(`HTTP peer: python3 -m http.server --protocol ${protocol} (pid ${p.pid}) on 127.0.0.1:${port} serving ${dir}`);
  // Ended with the bench, however it ends (an interrupted bench leaves no server behind).
  const stop = () => p.kill('SIGTERM');
  process.once('exit', stop);
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  return { url: `http://127.0.0.1:${port}/`, close: () => (process.off('exit', stop), stop()) };
}
