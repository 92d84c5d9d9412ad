/**
 * Manifests and lockfiles (drive.md §8), parsed and printed as YAML (JSON is valid YAML). A manifest describes the
 * media: options and sources with the refs to take from each. A lockfile is a manifest resolved to exact commits —
 * every ref including runtimes, extensions and appstream, the upstream summary digest and the signing keys seen —
 * so a later `create --lock` copies exactly those commits. Pure: text in, validated values out (paths are resolved
 * against the file's directory); `schemas/manifest.schema.json` describes the same keys for editors.
 */
import path from 'node:path';
import YAML from 'yaml';
import { UsageError } from '../errors.js';
import { EXTENSION_POLICIES, type ExtensionPolicy, type PlanReason } from '../flatpak/resolve-types.js';
import type { LockedRef } from './resolve-run.js';

/** Where a source's refs come from: exactly one of url / repo / installation / flatpakrepo. */
export interface SourceSpec {
  readonly url?: string;
  readonly repo?: string;
  /** `user`, `system`, or an installation name from installations.d. */
  readonly installation?: string;
  readonly flatpakrepo?: string;
  readonly collectionId?: string;
  readonly gpgImport?: readonly string[];
  /** ed25519 public key files trusted for upstream signatures. */
  readonly trustedKey?: readonly string[];
}

export interface ManifestSource extends SourceSpec {
  readonly refs: readonly string[];
}

export interface MediaOptions {
  readonly arches?: readonly string[];
  /** Languages of locale extensions; undefined = all. */
  readonly locales?: readonly string[];
  readonly extensions?: ExtensionPolicy;
  readonly includeSdk?: boolean;
  readonly destinationRepo?: string;
  readonly signKey?: string;
}

export interface Manifest extends MediaOptions {
  readonly sources: readonly ManifestSource[];
}

export interface LockSource extends SourceSpec {
  /** sha256 of the upstream summary (or summary.idx) per collection at lock time. */
  readonly upstream?: Readonly<Record<string, string>>;
  /** The keys whose signatures on the upstream summary verified at lock time: GPG fingerprints, ed25519 public keys. */
  readonly keys?: readonly string[];
  readonly refs: readonly LockedRef[];
}

export interface Lockfile extends MediaOptions {
  readonly lockVersion: 1;
  readonly sources: readonly LockSource[];
}

type Obj = Record<string, unknown>;

function fail(file: string, where: string, msg: string): never {
  throw new UsageError(`${file}: ${where}: ${msg}`, { path: file, key: where });
}

function parseYaml(text: string, file: string): Obj {
  let doc: unknown;
  try {
    doc = YAML.parse(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (e) {
    // Whatever yaml throws here is about the text (it throws a ReferenceError for an alias without its anchor).
    // Its message is "REASON at line L, column C:" and then the lines around it: the file, line and column are
    // said here once, without the dangling colon.
    const err = e as Error & { linePos?: ReadonlyArray<{ line: number; col: number }> };
    const reason = (err.message.split('\n')[0] ?? '')
      .replace(/ at line \d+, column \d+:?\s*$/, '')
      .replace(/:\s*$/, '');
    const pos = err.linePos?.[0];
    throw new UsageError(
      `${file}: not valid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}: ${reason}`,
      { path: file, ...(pos ? { line: pos.line, column: pos.col } : {}) },
      'EUSAGE',
      { cause: e },
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) fail(file, '(top)', 'must be a mapping of keys');
  return doc as Obj;
}

function onlyKeys(o: Obj, allowed: readonly string[], file: string, where: string): void {
  for (const k of Object.keys(o))
    if (!allowed.includes(k)) fail(file, where, `unknown key '${k}' (known: ${allowed.join(', ')})`);
}

function str(o: Obj, k: string, file: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v === '') fail(file, `${where}.${k}`, 'must be a non-empty string');
  return v;
}

function strList(o: Obj, k: string, file: string, where: string): string[] | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string' || s === ''))
    fail(file, `${where}.${k}`, 'must be a string or a list of strings');
  return list as string[];
}

const MEDIA_KEYS = ['arches', 'locales', 'extensions', 'include-sdk', 'destination-repo', 'sign-key'] as const;
const SOURCE_KEYS = [
  'url',
  'repo',
  'installation',
  'flatpakrepo',
  'collection-id',
  'gpg-import',
  'upstream-key',
  'trusted-key',
] as const;

function mediaOptions(o: Obj, file: string, base: string): MediaOptions {
  const arches = strList(o, 'arches', file, '(top)');
  const loc = o['locales'];
  const locales = loc === 'all' ? undefined : strList(o, 'locales', file, '(top)');
  const ext = o['extensions'];
  if (ext !== undefined && !EXTENSION_POLICIES.includes(ext as ExtensionPolicy))
    fail(file, 'extensions', `must be auto, all, locale or none, got '${String(ext)}'`);
  const sdk = o['include-sdk'];
  if (sdk !== undefined && typeof sdk !== 'boolean') fail(file, 'include-sdk', 'must be true or false');
  const dest = str(o, 'destination-repo', file, '(top)');
  const signKey = str(o, 'sign-key', file, '(top)');
  return {
    ...(arches ? { arches } : {}),
    ...(locales ? { locales } : {}),
    ...(ext !== undefined ? { extensions: ext as ExtensionPolicy } : {}),
    ...(sdk ? { includeSdk: true } : {}),
    ...(dest ? { destinationRepo: dest } : {}),
    ...(signKey ? { signKey: path.resolve(base, signKey) } : {}),
  };
}

function sourceSpec(o: Obj, file: string, where: string, base: string): SourceSpec {
  const kinds = (['url', 'repo', 'installation', 'flatpakrepo'] as const).filter((k) => o[k] !== undefined);
  if (kinds.length !== 1)
    fail(file, where, `name exactly one of url, repo, installation, flatpakrepo (got ${kinds.join(', ') || 'none'})`);
  const local = (k: string) => {
    const v = str(o, k, file, where);
    return v === undefined ? undefined : /^https?:\/\//.test(v) ? v : path.resolve(base, v);
  };
  const url = str(o, 'url', file, where);
  const repo = local('repo');
  const installation = str(o, 'installation', file, where);
  const flatpakrepo = local('flatpakrepo');
  const cid = str(o, 'collection-id', file, where);
  const gpg = strList(o, 'gpg-import', file, where)?.map((p) => path.resolve(base, p));
  // `upstream-key`, as the CLI flag; `trusted-key` is its earlier name.
  const edKeys = [
    ...(strList(o, 'upstream-key', file, where) ?? []),
    ...(strList(o, 'trusted-key', file, where) ?? []),
  ];
  const ed = edKeys.length ? edKeys.map((p) => path.resolve(base, p)) : undefined;
  return {
    ...(url ? { url } : {}),
    ...(repo ? { repo } : {}),
    ...(installation ? { installation } : {}),
    ...(flatpakrepo ? { flatpakrepo } : {}),
    ...(cid ? { collectionId: cid } : {}),
    ...(gpg ? { gpgImport: gpg } : {}),
    ...(ed ? { trustedKey: ed } : {}),
  };
}

/** Parses a manifest. @throws UsageError naming the file and key at fault. */
export function parseManifest(text: string, file: string): Manifest {
  const doc = parseYaml(text, file);
  onlyKeys(doc, [...MEDIA_KEYS, 'sources'], file, '(top)');
  const base = path.dirname(path.resolve(file));
  const sources = mapMappings(doc['sources'], file, 'sources', (s, where): ManifestSource => {
    onlyKeys(s, [...SOURCE_KEYS, 'refs'], file, where);
    const refs = strList(s, 'refs', file, where);
    if (!refs?.length) fail(file, `${where}.refs`, 'name at least one ref');
    return { ...sourceSpec(s, file, where, base), refs };
  });
  return { ...mediaOptions(doc, file, base), sources };
}

const LOCK_REF_KEYS = ['ref', 'collection-id', 'commit', 'reason', 'subpaths', 'languages'] as const;
const REASONS: readonly PlanReason[] = ['requested', 'runtime', 'related', 'sdk', 'appstream', 'rebase'];

/** Parses a lockfile. @throws UsageError naming the file and key at fault. */
export function parseLockfile(text: string, file: string): Lockfile {
  const doc = parseYaml(text, file);
  onlyKeys(doc, [...MEDIA_KEYS, 'sources', 'lock-version'], file, '(top)');
  if (doc['lock-version'] !== 1)
    fail(file, 'lock-version', `must be 1 (this sideload reads version 1), got ${String(doc['lock-version'])}`);
  const base = path.dirname(path.resolve(file));
  const sources = mapMappings(doc['sources'], file, 'sources', (so, where): LockSource => {
    onlyKeys(so, [...SOURCE_KEYS, 'refs', 'upstream', 'keys'], file, where);
    const locked = mapMappings(so['refs'], file, `${where}.refs`, (ro, w): LockedRef => {
      onlyKeys(ro, LOCK_REF_KEYS, file, w);
      const commit = str(ro, 'commit', file, w);
      if (!commit || !/^[0-9a-f]{64}$/.test(commit)) fail(file, `${w}.commit`, 'must be a 64-digit hex checksum');
      const reason = (str(ro, 'reason', file, w) ?? 'requested') as PlanReason;
      if (!REASONS.includes(reason)) fail(file, `${w}.reason`, `must be one of ${REASONS.join(', ')}`);
      const ref = str(ro, 'ref', file, w);
      const cid = str(ro, 'collection-id', file, w);
      if (!ref || !cid) fail(file, w, 'needs ref and collection-id');
      const subpaths = strList(ro, 'subpaths', file, w) ?? null;
      const langs = ro['languages'] === 'all' ? 'all' : strList(ro, 'languages', file, w);
      return { ref, collectionId: cid, commit, reason, subpaths, ...(langs ? { languages: langs } : {}) };
    });
    const up = so['upstream'];
    if (up !== undefined && (typeof up !== 'object' || up === null || Array.isArray(up)))
      fail(file, `${where}.upstream`, 'must be a mapping');
    const keys = strList(so, 'keys', file, where);
    return {
      ...sourceSpec(so, file, where, base),
      refs: locked,
      ...(up ? { upstream: up as Record<string, string> } : {}),
      ...(keys ? { keys } : {}),
    };
  });
  return { lockVersion: 1, ...mediaOptions(doc, file, base), sources };
}

/**
 * `list` as a non-empty list of mappings (`where`: its key, named in errors with the index: `sources[2]`), each
 * turned into a T by `each`, in order.
 */
function mapMappings<T>(list: unknown, file: string, where: string, each: (o: Obj, where: string) => T): T[] {
  if (!Array.isArray(list) || list.length === 0) fail(file, where, 'must be a non-empty list');
  return list.map((item: unknown, i: number) => {
    const w = `${where}[${i}]`;
    if (!item || typeof item !== 'object' || Array.isArray(item)) fail(file, w, 'must be a mapping');
    return each(item as Obj, w);
  });
}

/**
 * Paths in a lockfile are written relative to the lockfile's directory, so the lock moves with its checkout; in
 * full when it has no file (printed to stdout: where it ends up, and what its paths would be relative to, is unknown).
 */
function rel(base: string | null, p: string): string {
  if (/^https?:\/\//.test(p)) return p;
  return base === null ? path.resolve(p) : path.relative(base, p) || '.';
}

/**
 * Prints a lockfile (stable key order, one ref per block: reviewable in a diff). The reverse of parseLockfile.
 * `file` is where it will be written (null: stdout, with its paths in full).
 */
export function printLockfile(lock: Lockfile, file: string | null): string {
  const base = file === null ? null : path.dirname(path.resolve(file));
  const doc: Obj = { 'lock-version': 1 };
  if (lock.arches) doc['arches'] = [...lock.arches];
  if (lock.locales) doc['locales'] = [...lock.locales];
  if (lock.extensions) doc['extensions'] = lock.extensions;
  if (lock.includeSdk) doc['include-sdk'] = true;
  if (lock.destinationRepo) doc['destination-repo'] = lock.destinationRepo;
  if (lock.signKey) doc['sign-key'] = rel(base, lock.signKey);
  doc['sources'] = lock.sources.map((s) => {
    const o: Obj = {};
    if (s.url) o['url'] = s.url;
    if (s.repo) o['repo'] = rel(base, s.repo);
    if (s.installation) o['installation'] = s.installation;
    if (s.flatpakrepo) o['flatpakrepo'] = rel(base, s.flatpakrepo);
    if (s.collectionId) o['collection-id'] = s.collectionId;
    if (s.gpgImport) o['gpg-import'] = s.gpgImport.map((p) => rel(base, p));
    if (s.trustedKey) o['trusted-key'] = s.trustedKey.map((p) => rel(base, p));
    if (s.upstream && Object.keys(s.upstream).length) o['upstream'] = { ...s.upstream };
    if (s.keys?.length) o['keys'] = [...s.keys];
    o['refs'] = s.refs.map((r) => ({
      ref: r.ref,
      'collection-id': r.collectionId,
      commit: r.commit,
      reason: r.reason,
      ...(r.subpaths ? { subpaths: [...r.subpaths] } : {}),
      ...(r.languages !== undefined ? { languages: r.languages === 'all' ? 'all' : [...r.languages] } : {}),
    }));
    return o;
  });
  return (
    '# sideload lockfile: exact commits for `sideload create --lock`. Made by `sideload lock`; lock again to ' +
    'move forward.\n' +
    YAML.stringify(doc, { lineWidth: 0 })
  );
}
