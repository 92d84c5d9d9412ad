// Processes for the bench: run a command, run it and fail loudly, time it (wall, CPU, peak RSS), walk a tree.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = path.join(root, 'dist/cli/main.cjs');
/**
 * A build of sideload to run: a dist/ directory's `cli/main.cjs` (`cli/main.js` in builds before 2026-11-30),
 * started as an installed `sideload` starts: through its launcher (`sh cli/main.cjs …`: the file's first lines exec node with the launcher's environment and V8 flags,
 * and keep NODE_EXTRA_CA_CERTS from node's start-up; sh, env and node are one pid, so /usr/bin/time's peak RSS is
 * node's), with this node first in PATH. A build whose main.js has no launcher (`#!/usr/bin/env node`) runs as
 * `node cli/main.js`. Older builds' launcher lines (`//bin/true; exec …`) run as they are, so --ab compares them.
 */
export function buildOf(distDir, name = 'dist') {
  const cjs = path.join(distDir, 'cli/main.cjs');
  const main = fs.existsSync(cjs) ? cjs : path.join(distDir, 'cli/main.js');
  const launcher = fs.existsSync(main) && fs.readFileSync(main, 'utf8').startsWith('#!/bin/sh\n');
  return { name, dir: distDir, cli: main, argv: launcher ? ['sh', main] : [process.execPath, main] };
}
/** `env`'s PATH, with this node's directory first unless its `node` is already the first: a launcher execs this node. */
export function nodeFirstPath(env) {
  const PATH = env.PATH ?? process.env.PATH ?? '';
  for (const dir of PATH.split(path.delimiter)) {
    const node = path.join(dir || '.', 'node');
    if (!fs.existsSync(node)) continue;
    if (fs.realpathSync(node) === fs.realpathSync(process.execPath)) return PATH;
    break;
  }
  return `${path.dirname(process.execPath)}${path.delimiter}${PATH}`;
}
/** This checkout's build (npm run build). */
export const defaultBuild = buildOf(path.join(root, 'dist'));

export function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

export function log(msg) {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function run(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, {
      env: { ...process.env, ...(opts.env ?? {}) },
      cwd: opts.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out = [];
    const err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', (e) => resolve({ code: -1, stdout: '', stderr: String(e), pid: p.pid }));
    p.on('close', (code, sig) =>
      resolve({
        code: code ?? (sig ? 128 : 1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        pid: p.pid,
      }),
    );
    opts.onSpawn?.(p);
  });
}

/** Whether `name` is a command on PATH. */
export async function hasCommand(name) {
  return (await run('sh', ['-c', 'command -v "$1"', 'sh', name])).code === 0;
}

export async function runOk(cmd, args, opts) {
  const r = await run(cmd, args, opts);
  if (r.code !== 0)
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr.slice(-4000)}\n${r.stdout.slice(-2000)}`);
  return r.stdout;
}

export const TIME_BIN = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Runs one command as a whole process: wall time (ms) and peak RSS (KiB: /usr/bin/time %M, else VmHWM polled). */
export async function measure(cmd, args, opts = {}) {
  let rssKb = 0;
  let r;
  const t0 = performance.now();
  if (TIME_BIN) {
    const rssFile = path.join(os.tmpdir(), `sideload-bench-rss-${process.pid}`);
    r = await run(TIME_BIN, ['-f', '%M %U %S', '-o', rssFile, cmd, ...args], opts);
    const wall = performance.now() - t0;
    const [m, u, s] = (fs.readFileSync(rssFile, 'utf8').trim().split('\n').pop() ?? '').split(' ').map(Number);
    fs.rmSync(rssFile, { force: true });
    return { ...r, wall, rssKb: m || 0, cpu: Number.isFinite(u + s) ? (u + s) * 1000 : null };
  }
  let timer;
  r = await run(cmd, args, {
    ...opts,
    onSpawn: (p) => {
      timer = setInterval(() => {
        try {
          const m = /VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p.pid}/status`, 'utf8'));
          if (m) rssKb = Math.max(rssKb, Number(m[1]));
        } catch {}
      }, 20);
    },
  });
  clearInterval(timer);
  return { ...r, wall: performance.now() - t0, rssKb, cpu: null };
}

/** Apparent size of every file under `dir`. */
export async function duBytes(dir) {
  let n = 0;
  let count = 0;
  await forEachFile(dir, (p, st) => {
    n += st.size;
    count++;
  });
  return { bytes: n, files: count };
}

/** Calls fn(path, lstat) for every regular file under `dir` (recursively). */
export async function forEachFile(dir, fn) {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) await forEachFile(p, fn);
    else if (e.isFile()) fn(p, await fsp.lstat(p));
  }
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export const arch = async () => (await run('flatpak', ['--default-arch'])).stdout.trim();
