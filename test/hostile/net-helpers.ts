/**
 * Shared by the test/hostile/net-*.test.ts suites: a scriptable HTTP(S) server on 127.0.0.1 only (a directory
 * served under /repo/ and /mirror/, with per-path hostile handlers), and the CLI run as a child process under
 * /usr/bin/time, so every test can assert the exit code, the message, the wall time and the child's peak RSS.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ensureBuilt } from '../helpers/flatpak-fixtures.js';
import { projectRoot } from '../helpers/shared.js';
import { tempDir } from '../helpers/tmp.js';

/** Never a proxy, fast retries. */
export const NET_ENV: NodeJS.ProcessEnv = {
  http_proxy: '',
  HTTP_PROXY: '',
  https_proxy: '',
  HTTPS_PROXY: '',
  no_proxy: '127.0.0.1',
  SIDELOAD_HTTP_BACKOFF_MS: '1',
  SIDELOAD_HTTP_RETRIES: '1',
};

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time in ms. */
  ms: number;
  /** Peak resident set size of the CLI process, in MiB (from /usr/bin/time). */
  rssMiB: number;
}

/**
 * Runs `node dist/cli/main.cjs …args` under /usr/bin/time; kills it after `killAfterMs` (then code is -1). With
 * `via: 'launcher'`, `sh dist/cli/main.cjs …args`, as the installed command runs (its launcher line execs the `node`
 * of PATH: this node's directory goes first unless `env` sets PATH). A variable set to undefined in `env` is left out.
 */
export async function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  killAfterMs = 120_000,
  via: 'node' | 'launcher' = 'node',
): Promise<CliRun> {
  await ensureBuilt();
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'sideload-time-'));
  const out = path.join(tmp, 'rss');
  const t0 = Date.now();
  const main = path.join(projectRoot, 'dist/cli/main.cjs');
  const PATH = env['PATH'] ?? `${path.dirname(process.execPath)}:${process.env['PATH'] ?? ''}`;
  const child = spawn(
    '/usr/bin/time',
    ['-f', '%M', '-o', out, ...(via === 'launcher' ? ['sh', main] : [process.execPath, main]), ...args],
    {
      env: { ...process.env, ...NET_ENV, ...env, ...(via === 'launcher' ? { PATH } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  clearTimeout(timer);
  const ms = Date.now() - t0;
  const kb = Number((await fs.readFile(out, 'utf8').catch(() => '0')).trim().split('\n').pop());
  await fs.rm(tmp, { recursive: true, force: true });
  const result = { code, stdout, stderr, ms, rssMiB: Math.round(kb / 1024) };
  // SIDELOAD_NET_MEASURE=FILE: one line per run (args, exit code, ms, peak RSS) for the measurements in reports.
  const log = process.env['SIDELOAD_NET_MEASURE'];
  if (log)
    await fs.appendFile(
      log,
      `${JSON.stringify({ args: args.slice(0, 3).join(' '), code, ms, rssMiB: result.rssMiB, err: stderr.split('\n')[0]?.slice(0, 140) })}\n`,
    );
  return result;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, rel: string) => void | Promise<void>;

export interface HostileServer {
  readonly url: string;
  readonly origin: string;
  /** Paths (relative to /repo/) asked for, in order. */
  readonly log: string[];
  /** Handlers tried in order before the file is served; the first whose pattern matches `rel` answers. */
  readonly rules: Array<[RegExp, Handler]>;
  close(): Promise<void>;
}

/** Serves `root` at `/repo/` and `/mirror/` on 127.0.0.1 (https with `tls`). */
export async function hostileServer(root: string, tls?: { key: string; cert: string }): Promise<HostileServer> {
  const log: string[] = [];
  const rules: Array<[RegExp, Handler]> = [];
  const sockets = new Set<Socket>();
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    void (async () => {
      const p = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      const m = /^\/(repo|mirror)\/(.*)$/.exec(p);
      if (!m) return void res.writeHead(404).end();
      const rel = m[2] as string;
      log.push(`${m[1]}/${rel}`);
      if (m[1] === 'repo') {
        const rule = rules.find(([re]) => re.test(rel));
        if (rule) return void (await rule[1](req, res, rel));
      }
      const file = path.join(root, rel);
      const body = await fs.readFile(file).catch(() => null);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(body.length) }).end(req.method === 'HEAD' ? undefined : body);
    })().catch(() => res.destroy());
  };
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }, handler) : http.createServer(handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const origin = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    url: `${origin}/repo`,
    origin,
    log,
    rules,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Writes `chunk` forever (until the client goes away), without a Content-Length. */
export function endless(chunk: Buffer, headers: http.OutgoingHttpHeaders = {}, prefix?: Buffer): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', ...headers });
    if (prefix) res.write(prefix);
    const pump = () => {
      while (!res.destroyed && res.write(chunk));
      if (!res.destroyed) res.once('drain', pump);
    };
    res.on('close', () => res.removeAllListeners('drain'));
    pump();
  };
}

/** Sends one byte every `everyMs` forever. */
export function trickle(bytesPerTick: number, everyMs: number, headers: http.OutgoingHttpHeaders = {}): Handler {
  return (_req, res) => {
    res.writeHead(200, headers);
    const t = setInterval(() => {
      if (res.destroyed) return clearInterval(t);
      res.write(Buffer.alloc(bytesPerTick, 0x41));
    }, everyMs);
    res.on('close', () => clearInterval(t));
  };
}

export interface ExampleCopy {
  readonly dir: string;
  readonly repo: string;
  readonly gpgKey: string;
  /** A new empty directory under `dir` for a drive (`drive-0`, `drive-1` …). */
  freshDrive(): Promise<string>;
}

/** A copy of examples/repo (an archive repo with a signed summary.idx, collection org.example.Stable). */
export async function exampleCopy(): Promise<ExampleCopy> {
  const dir = await tempDir('sideload-net-'); // under the run's temp root: removed when the run ends
  await fs.cp(path.join(projectRoot, 'examples/repo'), path.join(dir, 'repo'), { recursive: true });
  await fs.copyFile(path.join(projectRoot, 'examples/example.gpg'), path.join(dir, 'example.gpg'));
  let drives = 0;
  return {
    dir,
    repo: path.join(dir, 'repo'),
    gpgKey: path.join(dir, 'example.gpg'),
    async freshDrive() {
      const d = path.join(dir, `drive-${drives++}`);
      await fs.mkdir(d);
      return d;
    },
  };
}

/**
 * `sideload create -q <mode> --repo <repo> …options <drive> org.example.App`: the example app from a local repo
 * (`options`: the keys and the rest), with --no-fsync or as a --dry-run.
 */
export function createExampleApp(
  repo: string,
  drive: string,
  options: readonly string[],
  mode: '--no-fsync' | '--dry-run' = '--no-fsync',
): Promise<CliRun> {
  return runCli(['create', '-q', mode, '--repo', repo, ...options, drive, 'org.example.App']);
}

/** A self-signed certificate for 127.0.0.1 (the CLI child trusts it through NODE_EXTRA_CA_CERTS). */
export async function selfSigned(dir: string): Promise<{ key: string; cert: string; certFile: string }> {
  const keyFile = path.join(dir, 'tls.key');
  const certFile = path.join(dir, 'tls.crt');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { stdio: 'ignore' },
  );
  return { key: await fs.readFile(keyFile, 'utf8'), cert: await fs.readFile(certFile, 'utf8'), certFile };
}
