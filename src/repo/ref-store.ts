/**
 * Ref files on disk (format.md §1.3): reading, writing (`<64 hex>\n` through a temp file and a rename) and deleting
 * one ref, and listing them. Every name is validated before it becomes a path (refs.ts), and no write goes through
 * a symlinked or non-directory component under `refs/`.
 */
import { readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CorruptError, FailureError } from '../errors.js';
import { isChecksum, validateChecksum } from '../ostree/checksum.js';
import { isENOENT, readLocalFileSync, readLocalText } from '../transport/local.js';
import { fsyncDir, writeFileAtomic, type WriteOptions } from './atomic-write.js';
import { isValidCollectionId, isValidRef, isValidRemoteName, refFile, refPath, type RefLocation } from './refs.js';

/** A ref file holds a checksum and a newline (65 bytes); larger is not one. */
const REF_FILE_LIMIT = 4096;

export interface RefEntry {
  readonly location: RefLocation;
  readonly checksum: string;
}

/** The commit a ref points at, or null when the ref does not exist. @throws CorruptError for a malformed ref file. */
export async function readRef(repoPath: string, loc: RefLocation): Promise<string | null> {
  const rel = refPath(loc);
  const file = refFile(repoPath, rel);
  // A ref file is `<64 hex>\n`; a directory there is a ref prefix, not a ref. No symlink followed, bounded.
  if ((await fs.lstat(file).catch(() => null))?.isDirectory()) return null;
  const text = await readLocalText(file, REF_FILE_LIMIT);
  if (text === null) return null;
  const c = text.trim();
  if (!isChecksum(c)) throw new CorruptError(`ref file ${rel} does not hold a checksum`, { path: rel });
  return c;
}

/** Points a ref at `checksum`: `<64 hex>\n` through a temp file and rename; parent directories made as needed. */
export async function writeRef(
  repoPath: string,
  loc: RefLocation,
  checksum: string,
  opts: WriteOptions = {},
): Promise<void> {
  validateChecksum(checksum);
  const rel = refPath(loc);
  const file = refFile(repoPath, rel);
  await ensureRealDirs(repoPath, path.dirname(file));
  await writeFileAtomic(file, `${checksum}\n`, opts.fsync ?? true);
}

/** Removes a ref (and the directories it leaves empty, up to its namespace). No error if it does not exist. */
export async function deleteRef(repoPath: string, loc: RefLocation, opts: WriteOptions = {}): Promise<void> {
  const rel = refPath(loc);
  const file = refFile(repoPath, rel);
  await ensureRealDirs(repoPath, path.dirname(file), false);
  await fs.rm(file, { force: true });
  const stop = path.join(repoPath, 'refs', loc.kind === 'heads' ? 'heads' : loc.kind);
  for (let d = path.dirname(file); d.startsWith(stop + path.sep); d = path.dirname(d)) {
    try {
      await fs.rmdir(d);
    } catch {
      break;
    }
  }
  if (opts.fsync ?? true) await fsyncDir(path.dirname(file));
}

/**
 * Every ref in one namespace (or all three), sorted. Names ostree would ignore (`.DS_Store`, temp files) and
 * symlinks (aliases) are skipped; files that do not hold a checksum raise CorruptError.
 */
export async function listRefs(repoPath: string, kind?: RefLocation['kind']): Promise<RefEntry[]> {
  const out: RefEntry[] = [];
  const kinds = kind ? [kind] : (['heads', 'remotes', 'mirrors'] as const);
  for (const k of kinds) {
    const base = path.join(repoPath, 'refs', k);
    for (const [name, checksum] of await listRefFiles(base)) {
      if (k === 'heads') out.push({ location: { kind: 'heads', ref: name }, checksum });
      else {
        const slash = name.indexOf('/');
        if (slash < 0) continue;
        const ns = name.slice(0, slash);
        const ref = name.slice(slash + 1);
        if (k === 'remotes' && isValidRemoteName(ns) && isValidRef(ref))
          out.push({ location: { kind: 'remotes', remote: ns, ref }, checksum });
        if (k === 'mirrors' && isValidCollectionId(ns) && isValidRef(ref))
          out.push({ location: { kind: 'mirrors', collectionId: ns, ref }, checksum });
      }
    }
  }
  return out;
}

/** refs/mirrors as collection ID → ref → commit. */
export async function listMirrorRefs(repoPath: string): Promise<Map<string, Map<string, string>>> {
  const out = new Map<string, Map<string, string>>();
  for (const e of await listRefs(repoPath, 'mirrors')) {
    if (e.location.kind !== 'mirrors') continue;
    const m = out.get(e.location.collectionId) ?? new Map<string, string>();
    m.set(e.location.ref, e.checksum);
    out.set(e.location.collectionId, m);
  }
  return out;
}

/**
 * mkdir -p for `dir` (inside refs/), refusing any existing component that is a symlink or not a directory: a
 * hostile drive could otherwise point `refs/mirrors/x` somewhere else.
 */
async function ensureRealDirs(repoPath: string, dir: string, create = true): Promise<void> {
  const refs = path.join(repoPath, 'refs');
  const rel = path.relative(refs, dir);
  let cur = refs;
  for (const part of ['', ...(rel ? rel.split(path.sep) : [])]) {
    cur = part ? path.join(cur, part) : cur;
    let st;
    try {
      st = await fs.lstat(cur);
    } catch (e) {
      if (!isENOENT(e)) throw e;
      if (!create) return;
      try {
        await fs.mkdir(cur, { mode: 0o775 });
      } catch (e2) {
        if ((e2 as NodeJS.ErrnoException).code !== 'EEXIST') throw e2;
      }
      continue;
    }
    if (st.isSymbolicLink() || !st.isDirectory())
      throw new FailureError(
        `'${path.relative(repoPath, cur)}' is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; ` +
          'refusing to write a ref through it',
        { path: cur },
        'EBADREF',
      );
  }
}

/**
 * Ref files under `dir`, recursively: [name relative to dir, checksum], sorted bytewise; names ostree would ignore
 * (`.DS_Store`, temp files) and symlinks are skipped. A file that does not hold a checksum raises CorruptError, or
 * with `lenient` (reading a source or a drive under verification) is skipped, as is a directory that cannot be read.
 */
export async function listRefFiles(
  dir: string,
  opts: { readonly lenient?: boolean } = {},
  prefix = '',
): Promise<Array<[string, string]>> {
  // Synchronous reads: a Flathub-size repo has 5,000 ref files in 10,000 directories, and a thread-pool round trip
  // per file and directory costs more than the read (bench --ab, create of 3 apps from the 5,000-ref upstream, 7
  // pairs: the same walk with fs.promises took 2.09x the CPU, 1.98x the wall time; docs/benchmark.md, issue 14).
  const out: Array<[string, string]> = [];
  const walk = (d: string, pre: string): void => {
    let entries;
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch (e) {
      if (opts.lenient || isENOENT(e)) return;
      throw e;
    }
    entries.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
    for (const e of entries) {
      if (!/^[A-Za-z0-9_][-._A-Za-z0-9_]*$/.test(e.name)) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p, `${pre}${e.name}/`);
      else if (e.isFile()) {
        const c = Buffer.from(readLocalFileSync(p, REF_FILE_LIMIT) ?? [])
          .toString('utf8')
          .trim();
        if (isChecksum(c)) out.push([`${pre}${e.name}`, c]);
        else if (!opts.lenient) throw new CorruptError(`ref file ${p} does not hold a checksum`, { path: p });
      }
    }
  };
  walk(dir, prefix);
  return out;
}
