/**
 * Fixtures made with the real flatpak tools (scripts/make-example-repo.sh), isolated flatpak installations, and
 * running our CLI as a process. Suites that need flatpak/ostree/gpg use `describeInterop`: skipped without the
 * tools, but on CI (CI=true) a missing tool is a failing test, never a silent skip.
 */
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, it } from 'vitest';
import { projectRoot } from './shared.js';

const execFileAsync = promisify(execFile);

function has(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const interopTools = ['ostree', 'flatpak', 'gpg'] as const;
export const interopAvailable = interopTools.every(has);
const isCI = process.env['CI'] === 'true';

/** `describe` for suites that need ostree, flatpak and gpg (see the module comment). */
export function describeInterop(name: string, fn: () => void): void {
  if (interopAvailable) describe(name, fn);
  else if (isCI)
    describe(name, () => {
      it('needs ostree, flatpak and gpg', () => {
        throw new Error(`missing ${interopTools.filter((t) => !has(t)).join(', ')} and CI=true: .ci/run installs them`);
      });
    });
  else describe.skip(`${name} (needs ${interopTools.join(', ')})`, fn);
}

export const CID = 'org.example.Stable';
export const ARCH = (() => {
  try {
    return execFileSync('flatpak', ['--default-arch'], { encoding: 'utf8' }).trim();
  } catch {
    return 'x86_64';
  }
})();

export async function tempDir(prefix = 'sideload-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; never throws for a non-zero exit (the test asserts on `code`). */
export async function run(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  try {
    const { stdout, stderr } = await execFileAsync(cmd, args as string[], {
      maxBuffer: 256 << 20,
      env: { ...process.env, ...(opts.env ?? {}) },
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      timeout: opts.timeoutMs ?? 300_000,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? err.message };
  }
}

/** Like run, but throws (with stderr) when the command fails. */
export async function runOk(cmd: string, args: readonly string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Runs the sideload CLI from source (tsx-free: the compiled dist/ is built once by `ensureBuilt`). */
export async function sideload(args: readonly string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  await ensureBuilt();
  return run(process.execPath, [path.join(projectRoot, 'dist/cli/main.js'), ...args], opts);
}

let built: Promise<void> | null = null;
/** Compiles src/ to dist/ once per test process (tests run the real CLI binary). */
export function ensureBuilt(): Promise<void> {
  built ??= runOk(process.execPath, [path.join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', path.join(projectRoot, 'tsconfig.build.json')]).then(() => undefined);
  return built;
}

export interface ExampleRepo {
  /** The directory holding repo/, example.gpg, example.flatpakrepo, gpghome/. */
  dir: string;
  repo: string;
  gpgKey: string;
  flatpakrepo: string;
  /** Rebuilds the app with new content (version N), re-signing and updating the summary. */
  update(version: number): Promise<void>;
}

/** Builds the example repo (app, runtime, Locale, GL, appstream; GPG-signed) into a fresh temp dir. */
export async function makeExampleRepo(opts: { arches?: string[]; bigMb?: number } = {}): Promise<ExampleRepo> {
  const dir = await tempDir('sideload-example-');
  const script = path.join(projectRoot, 'scripts/make-example-repo.sh');
  const extra = [...(opts.arches ?? []).flatMap((a) => ['--arch', a]), ...(opts.bigMb ? ['--big-mb', String(opts.bigMb)] : [])];
  await runOk('bash', [script, dir, ...extra]);
  return {
    dir,
    repo: path.join(dir, 'repo'),
    gpgKey: path.join(dir, 'example.gpg'),
    flatpakrepo: path.join(dir, 'example.flatpakrepo'),
    update: async (version) => void (await runOk('bash', [script, dir, ...extra, '--version', String(version), '--timestamp', `2024-01-0${Math.min(9, version)}T00:00:00`])),
  };
}

/** An isolated flatpak world: FLATPAK_USER_DIR, FLATPAK_SYSTEM_DIR and FLATPAK_CONFIG_DIR in a temp dir. */
export interface FlatpakEnv {
  root: string;
  userDir: string;
  env: NodeJS.ProcessEnv;
  flatpak(args: readonly string[]): Promise<RunResult>;
  flatpakOk(args: readonly string[]): Promise<string>;
}

export async function flatpakEnv(): Promise<FlatpakEnv> {
  const root = await tempDir('sideload-flatpak-');
  const userDir = path.join(root, 'user');
  const env: NodeJS.ProcessEnv = {
    FLATPAK_USER_DIR: userDir,
    FLATPAK_SYSTEM_DIR: path.join(root, 'system'),
    FLATPAK_CONFIG_DIR: path.join(root, 'config'),
    FLATPAK_RUN_DIR: path.join(root, 'run'),
    XDG_CACHE_HOME: path.join(root, 'cache'),
    XDG_DATA_HOME: path.join(root, 'data'),
    GNUPGHOME: path.join(root, 'gnupg'),
  };
  for (const d of ['config', 'run', 'cache', 'data']) await fs.mkdir(path.join(root, d), { recursive: true });
  await fs.mkdir(path.join(root, 'gnupg'), { recursive: true, mode: 0o700 });
  const flatpak = (args: readonly string[]) => run('flatpak', args, { env });
  const flatpakOk = (args: readonly string[]) => runOk('flatpak', args, { env });
  return { root, userDir, env, flatpak, flatpakOk };
}

/**
 * A user installation with the example app (and its runtime and locales) installed from `repo` over file://,
 * its remote named `example` with the collection ID. `languages` sets flatpak's locale config first.
 */
export async function installedExample(ex: ExampleRepo, opts: { languages?: string[]; refs?: string[] } = {}): Promise<FlatpakEnv> {
  const f = await flatpakEnv();
  if (opts.languages) await f.flatpakOk(['--user', 'config', '--set', 'languages', opts.languages.join(';')]);
  await f.flatpakOk(['--user', 'remote-add', `--collection-id=${CID}`, `--gpg-import=${ex.gpgKey}`, 'example', `file://${ex.repo}`]);
  await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', ...(opts.refs ?? ['org.example.App'])]);
  return f;
}

/**
 * A fresh isolated installation whose `example` remote has the collection ID and GPG key but a URL that does not
 * resolve; installs `refs` offline with --sideload-repo=`sideloadPath`. Returns the env and the install result.
 */
export async function offlineInstall(ex: ExampleRepo, sideloadPath: string, refs: readonly string[] = ['org.example.App'], opts: { languages?: string[] } = {}): Promise<{ f: FlatpakEnv; result: RunResult }> {
  const f = await flatpakEnv();
  if (opts.languages) await f.flatpakOk(['--user', 'config', '--set', 'languages', opts.languages.join(';')]);
  await f.flatpakOk(['--user', 'remote-add', `--collection-id=${CID}`, `--gpg-import=${ex.gpgKey}`, 'example', 'http://example.invalid/repo/']);
  const result = await f.flatpak(['--user', 'install', '-y', '--noninteractive', `--sideload-repo=${sideloadPath}`, 'example', ...refs]);
  return { f, result };
}

/** Full ref (`app/…`, `runtime/…`) → installed commit, for every ref of an isolated installation. */
export async function installedCommits(f: FlatpakEnv): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const kind of ['app', 'runtime'] as const) {
    // --all: without it flatpak list hides Locale (and other) extensions.
    const list = await f.flatpakOk(['--user', 'list', '--all', `--${kind}`, '--columns=ref']);
    for (const line of list.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const ref = `${kind}/${line}`;
      out.set(ref, (await f.flatpakOk(['--user', 'info', '--show-commit', ref])).trim());
    }
  }
  return out;
}
