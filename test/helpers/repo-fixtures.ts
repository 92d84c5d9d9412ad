/**
 * Repos made by the real ostree CLI in temp dirs, for src/repo/ tests. Every fixture is built from scratch (a few
 * hundred ms each), so tests never depend on checked-in binary repos.
 *
 * Tests that need ostree use `describeOstree` (the tool gate of ./tools.ts): skipped without it, except on CI
 * (process.env.CI === 'true'), where a missing ostree fails the suite.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fsck } from './fsck.js';
import { tempDir as runTempDir } from './tmp.js';
import { describeWithTools, hasTool, isCI } from './tools.js';

const execFileAsync = promisify(execFile);

export type OstreeMode = 'archive' | 'bare' | 'bare-user' | 'bare-user-only';
export const ALL_MODES: readonly OstreeMode[] = ['archive', 'bare', 'bare-user', 'bare-user-only'];

export const ostreeAvailable = hasTool('ostree');
export { isCI };
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** `describe` for suites that need the ostree CLI (skipped without it; a failure under CI=true). */
export function describeOstree(name: string, fn: () => void): void {
  describeWithTools(['ostree'], name, fn);
}

/** Runs ostree; returns stdout. Throws with stderr on failure. */
export async function ostree(args: string[], opts: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ostree', args, {
      maxBuffer: 256 << 20,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ostree ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

/**
 * A fresh temp directory (./tmp.ts: removed with the run's temp root anyway) and a `cleanup` that frees it early.
 * New tests: use `tempDir` of ./tmp.ts.
 */
export async function tempDir(prefix = 'sideload-repo-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await runTempDir(prefix);
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Deterministic pseudo-random bytes (compressible by a factor of about two, like binaries). */
export function pseudoBytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let block = createHash('sha256').update(`seed-${seed}`).digest();
  let off = 0;
  while (off < size) {
    block = createHash('sha256').update(block).digest();
    // half random, half repetitive: deflate has something to do
    for (let i = 0; i < 32 && off < size; i++) out[off++] = block[i] as number;
    for (let i = 0; i < 32 && off < size; i++) out[off++] = 0x41 + (i % 7);
  }
  return out;
}

export interface TreeOptions {
  /** Size of the large file (default 11 MiB: over the 10 MiB the tests promise). 0 = none. */
  readonly largeSize?: number;
  /** Add a file owned by uid/gid 1000 (meaningful for bare and archive; bare-user-only drops ownership). */
  readonly foreignOwner?: boolean;
}

/**
 * A flatpak-shaped tree: /metadata, /files/{bin,lib,share/locale/{de,fr}}, /files/de, /files/fr (for subpath
 * tests), with regular files, executables, an empty file, a large file, symlinks (relative, absolute, dangling),
 * nested and empty directories, a 0600 file and 0700 directory, and non-ASCII names.
 */
export async function makeTree(dir: string, opts: TreeOptions = {}): Promise<void> {
  const w = async (rel: string, data: string | Uint8Array, mode = 0o644) => {
    const p = path.join(dir, rel);
    await fs.mkdir(path.dirname(p), { recursive: true });
    await fs.writeFile(p, data);
    await fs.chmod(p, mode);
  };
  await w('metadata', '[Application]\nname=org.example.App\nruntime=org.example.Platform/x86_64/1\n');
  await w('files/bin/app', '#!/bin/sh\necho hello\n', 0o755);
  await w('files/bin/tool', pseudoBytes(300_000, 2), 0o755);
  await w('files/lib/libfoo.so.1.2', pseudoBytes(1_500_000, 3), 0o755);
  await fs.symlink('libfoo.so.1.2', path.join(dir, 'files/lib/libfoo.so.1'));
  await fs.symlink('/usr/lib/absolute-target', path.join(dir, 'files/lib/abs-link'));
  await fs.symlink('../nowhere/dangling', path.join(dir, 'files/lib/dangling'));
  await w('files/share/empty', '');
  await w('files/share/duplicate-a', 'same content\n');
  await w('files/share/duplicate-b', 'same content\n');
  await w('files/share/private', 'secret\n', 0o600);
  await w('files/share/Grüße/naïve café.txt', 'non-ascii ✓\n');
  await w('files/share/日本語/ファイル', 'にほんご\n');
  await fs.mkdir(path.join(dir, 'files/share/emptydir'), { recursive: true });
  await fs.mkdir(path.join(dir, 'files/share/private-dir'), { recursive: true });
  await w('files/share/private-dir/x', 'x\n');
  await fs.chmod(path.join(dir, 'files/share/private-dir'), 0o700);
  let deep = 'files/deep';
  for (let i = 0; i < 12; i++) deep += `/d${i}`;
  await w(`${deep}/leaf`, 'deep leaf\n');
  for (const lang of ['de', 'fr', 'pt_BR']) {
    await w(`files/${lang}/LC_MESSAGES/app.mo`, `${lang} translations\n`.repeat(50));
    await w(`files/${lang}/README`, `${lang}\n`);
  }
  await w('files/defaults', 'not under /files/de\n');
  await w('files/de-extra/x', 'prefix of /files/de but not under it\n');
  if ((opts.largeSize ?? 11 << 20) > 0) await w('files/share/large.bin', pseudoBytes(opts.largeSize ?? 11 << 20, 4));
  if (opts.foreignOwner) {
    await w('files/share/owned', 'owned by 1000\n');
    await fs.chown(path.join(dir, 'files/share/owned'), 1000, 1000);
  }
}

export async function ostreeInit(repo: string, mode: OstreeMode): Promise<void> {
  await ostree(['init', `--repo=${repo}`, `--mode=${mode}`]);
}

/** Commits `tree` to `branch`; returns the commit checksum. */
export async function ostreeCommit(repo: string, branch: string, tree: string, extra: string[] = []): Promise<string> {
  const out = await ostree([
    'commit',
    `--repo=${repo}`,
    `--branch=${branch}`,
    `--tree=dir=${tree}`,
    '--subject=test',
    '--timestamp=2024-01-02T03:04:05Z',
    ...extra,
  ]);
  return out.trim();
}

/** Every loose object of a repo as `<checksum>.<type>` (archive `.filez` → `file`), sorted. */
export async function looseObjects(repo: string): Promise<string[]> {
  const out: string[] = [];
  const root = path.join(repo, 'objects');
  for (const prefix of await fs.readdir(root).catch(() => [] as string[])) {
    for (const name of await fs.readdir(path.join(root, prefix))) {
      const m = /^([0-9a-f]{62})\.(.+)$/.exec(name);
      if (!m) continue;
      out.push(`${prefix}${m[1]}.${m[2] === 'filez' ? 'file' : m[2]}`);
    }
  }
  return out.sort();
}

/** The objects ostree itself reports as reachable from a ref (`ostree ls -R -C` + the commit), as `<csum>.<type>`. */
export async function ostreeReachable(repo: string, ref: string): Promise<string[]> {
  const commit = (await ostree(['rev-parse', `--repo=${repo}`, ref])).trim();
  const out = new Set<string>([`${commit}.commit`]);
  const ls = await ostree(['ls', `--repo=${repo}`, '-R', '-C', ref]);
  for (const line of ls.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const kind = (f[0] as string)[0];
    if (kind === 'd') {
      out.add(`${f[4]}.dirtree`);
      out.add(`${f[5]}.dirmeta`);
    } else out.add(`${f[4]}.file`);
  }
  return [...out].sort();
}

/** Checks out `ref` of `repo` into `dest` (user mode). */
export async function ostreeCheckout(repo: string, ref: string, dest: string, subpath?: string): Promise<void> {
  await ostree(['checkout', `--repo=${repo}`, '-U', ...(subpath ? [`--subpath=${subpath}`] : []), ref, dest]);
}

/** `type path mode size hash` / `l path -> target` for every entry below `dir`, sorted: what a checkout must reproduce. */
export { snapshotDir as treeManifest } from './tree-snapshot.js';

/** `diff -r --no-dereference a b`: '' when equal, else the diff output. */
export async function diffTrees(a: string, b: string): Promise<string> {
  try {
    await execFileAsync('diff', ['-r', '--no-dereference', a, b], { maxBuffer: 64 << 20 });
    return '';
  } catch (e) {
    const err = e as { stdout?: string; message: string };
    return err.stdout || err.message;
  }
}

/** `ostree fsck` of a repo; returns its output, throws when it fails (./fsck.ts). */
export async function ostreeFsck(repo: string): Promise<string> {
  return fsck(repo);
}
