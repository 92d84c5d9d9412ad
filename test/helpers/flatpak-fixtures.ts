/**
 * Fixtures made with the real flatpak tools (scripts/make-example-repo.sh), isolated flatpak installations, and
 * running our CLI as a process. Suites that need flatpak/ostree/gpg use `describeInterop`: skipped without the
 * tools, but on CI (CI=true) a missing tool is a failing test, never a silent skip.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import {
  buildDist,
  buildExample,
  distOnce,
  exampleArgs,
  exampleKey,
  exampleOnce,
  type ExampleOptions,
} from './build-fixtures.js';
import { run, runOk, type RunResult } from './process.js';
import { projectRoot } from './shared.js';
import { fixturesRoot, tempDir } from './tmp.js';
import { describeWithTools, missingTools } from './tools.js';

export { run, runOk, tempDir, type RunResult };

export const interopTools = ['ostree', 'flatpak', 'gpg'] as const;
export const interopAvailable = missingTools(interopTools).length === 0;

/** `describe` for suites that need ostree, flatpak and gpg (see the module comment). */
export function describeInterop(name: string, fn: () => void): void {
  describeWithTools(interopTools, name, fn);
}

export const CID = 'org.example.Stable';
export const ARCH = (() => {
  try {
    return execFileSync('flatpak', ['--default-arch'], { encoding: 'utf8' }).trim();
  } catch {
    return 'x86_64';
  }
})();

/** The example repo's refs (scripts/make-example-repo.sh) on this machine's arch. */
export const APP = `app/org.example.App/${ARCH}/stable`;
export const APP_LOCALE = `runtime/org.example.App.Locale/${ARCH}/stable`;
export const PLATFORM = `runtime/org.example.Platform/${ARCH}/stable`;
export const PLATFORM_LOCALE = `runtime/org.example.Platform.Locale/${ARCH}/stable`;
export const GL = `runtime/org.example.Platform.GL.default/${ARCH}/1.4`;

/** Runs the sideload CLI from source (tsx-free: the compiled dist/ is built once by `ensureBuilt`). */
export async function sideload(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  await ensureBuilt();
  return run(process.execPath, [path.join(projectRoot, 'dist/cli/main.cjs'), ...args], opts);
}

/**
 * `sideload create …flags --no-fsync --repo <repo> --gpg-import <gpgKey> <drive> …refs`: a drive from a local repo
 * and the key it is signed with (default: the example app).
 */
export function createFromRepo(
  src: { readonly repo: string; readonly gpgKey: string },
  drive: string,
  refs: readonly string[] = ['org.example.App'],
  flags: readonly string[] = [],
): Promise<RunResult> {
  return sideload(['create', ...flags, '--no-fsync', '--repo', src.repo, '--gpg-import', src.gpgKey, drive, ...refs]);
}

/** The example app's translation for `lang` as deployed in `f`'s user installation (its Locale extension). */
export function installedTranslation(f: FlatpakEnv, lang: string): Promise<string> {
  const dir = path.join(f.userDir, 'runtime/org.example.App.Locale', ARCH, 'stable/active/files', lang);
  return fs.readFile(path.join(dir, `share/${lang}/LC_MESSAGES/app.mo`), 'utf8');
}

let built: Promise<void> | null = null;
/**
 * Resolves once dist/ holds the compiled CLI: built once per run by the globalSetup (every test process waits for
 * that one build; none compiles while another runs dist/cli/main.cjs), or once per process outside it.
 */
export function ensureBuilt(): Promise<void> {
  const fixtures = fixturesRoot();
  built ??= (fixtures ? distOnce(fixtures) : buildDist()).then(() => undefined);
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

/**
 * The example repo (app, runtime, Locale, GL, appstream; GPG-signed) in a fresh temp dir of the caller's own: a copy
 * of the one built once per run for these options (so `update` and any damage stay in this copy), or built here
 * when there is no run-wide build (outside the globalSetup, or `bigMb`, whose content is random).
 */
export async function makeExampleRepo(opts: ExampleOptions = {}): Promise<ExampleRepo> {
  const dir = await tempDir('sideload-example-');
  const script = path.join(projectRoot, 'scripts/make-example-repo.sh');
  const key = exampleKey(opts);
  const fixtures = fixturesRoot();
  if (key && fixtures) await runOk('cp', ['-a', `${await exampleOnce(fixtures, key, opts)}/.`, dir]);
  else await buildExample(dir, opts);
  const extra = exampleArgs(opts);
  return {
    dir,
    repo: path.join(dir, 'repo'),
    gpgKey: path.join(dir, 'example.gpg'),
    flatpakrepo: path.join(dir, 'example.flatpakrepo'),
    update: async (version) =>
      void (await runOk('bash', [
        script,
        dir,
        ...extra,
        '--version',
        String(version),
        '--timestamp',
        `2024-01-0${Math.min(9, version)}T00:00:00`,
      ])),
  };
}

/** `--gpg-homedir=… --gpg-sign=KEYID`: the example repo's own key, for `flatpak build-*` and `ostree` commands. */
export async function exampleSignArgs(ex: Pick<ExampleRepo, 'dir'>): Promise<string[]> {
  const keyid = (await fs.readFile(path.join(ex.dir, 'gpghome/keyid'), 'utf8')).trim();
  return [`--gpg-homedir=${path.join(ex.dir, 'gpghome')}`, `--gpg-sign=${keyid}`];
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
 * `flatpak remote-add` in `f`: remote `name` at `url` trusting the key file `gpgKey`, with the collection ID (CID
 * unless `collectionId` names another, or null for none), in the user installation unless `scope` is --system.
 */
export function remoteAdd(
  f: FlatpakEnv,
  name: string,
  url: string,
  gpgKey: string,
  opts: { collectionId?: string | null; scope?: '--user' | '--system' } = {},
): Promise<string> {
  const cid = opts.collectionId === undefined ? CID : opts.collectionId;
  return f.flatpakOk([
    opts.scope ?? '--user',
    'remote-add',
    ...(cid === null ? [] : [`--collection-id=${cid}`]),
    `--gpg-import=${gpgKey}`,
    name,
    url,
  ]);
}

/**
 * A user installation with the example app (and its runtime and locales) installed from `repo` over file://,
 * its remote named `example` with the collection ID. `languages` sets flatpak's locale config first.
 */
export async function installedExample(
  ex: ExampleRepo,
  opts: { languages?: string[]; refs?: string[] } = {},
): Promise<FlatpakEnv> {
  const f = await flatpakEnv();
  if (opts.languages) await f.flatpakOk(['--user', 'config', '--set', 'languages', opts.languages.join(';')]);
  await remoteAdd(f, 'example', `file://${ex.repo}`, ex.gpgKey);
  await f.flatpakOk(['--user', 'install', '-y', '--noninteractive', 'example', ...(opts.refs ?? ['org.example.App'])]);
  return f;
}

/**
 * A fresh isolated installation whose `example` remote has the collection ID and GPG key but a URL that does not
 * resolve; installs `refs` offline with --sideload-repo=`sideloadPath`. Returns the env and the install result.
 */
export async function offlineInstall(
  ex: ExampleRepo,
  sideloadPath: string,
  refs: readonly string[] = ['org.example.App'],
  opts: { languages?: string[] } = {},
): Promise<{ f: FlatpakEnv; result: RunResult }> {
  const f = await flatpakEnv();
  if (opts.languages) await f.flatpakOk(['--user', 'config', '--set', 'languages', opts.languages.join(';')]);
  await remoteAdd(f, 'example', 'http://example.invalid/repo/', ex.gpgKey);
  const result = await f.flatpak([
    '--user',
    'install',
    '-y',
    '--noninteractive',
    `--sideload-repo=${sideloadPath}`,
    'example',
    ...refs,
  ]);
  return { f, result };
}

/** Full ref (`app/…`, `runtime/…`) → installed commit, for every ref of an isolated installation. */
export async function installedCommits(f: FlatpakEnv): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const kind of ['app', 'runtime'] as const) {
    // --all: without it flatpak list hides Locale (and other) extensions.
    const list = await f.flatpakOk(['--user', 'list', '--all', `--${kind}`, '--columns=ref']);
    for (const line of list
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean)) {
      const ref = `${kind}/${line}`;
      out.set(ref, (await f.flatpakOk(['--user', 'info', '--show-commit', ref])).trim());
    }
  }
  return out;
}
