/**
 * The verbatim upstream copy (drive.md §5): fetch each collection's upstream summary set from its source, check its
 * signatures against the source's keys (before anything is copied), and compare it with the copy already on the
 * drive so that a run with nothing new writes nothing.
 */
import path from 'node:path';
import fs from 'fs-extra';
import type { Warn } from '../warnings.js';
import { lookup, type VarDict } from '../gvariant/index.js';
import { KEY } from '../ostree/formats.js';
import { sha256Hex } from '../ostree/checksum.js';
import { readLocalFile } from '../transport/local.js';
import { mapLimit } from '../repo/for-each-limit.js';
import type { Source, TrustedKeys, UpstreamFiles } from './source.js';
import { checkUpstream, gunzipSubsummary, type UpstreamPolicy } from './upstream.js';
import { encodeUpstreamRecord, UPSTREAM_RECORD } from './upstream-record.js';

export const UPSTREAM_DIR = 'extensions/sideload/upstream';

/** Largest decompressed subsummary we check (a gzip bomb stops here). */
export const MAX_SUBSUMMARY_BYTES = 256 * 1024 * 1024;

export interface PreparedUpstream {
  readonly collectionId: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** The `sideload.json` record written beside the files. */
  readonly record: string;
  readonly signedBy: readonly string[];
  /** The fingerprints (GPG) or public keys (ed25519) whose signatures verified. */
  readonly keys: readonly string[];
  readonly root: string;
}

/** What a lockfile recorded of one source's upstream summaries (LockSource's `upstream` and `keys`). */
export interface UpstreamPin {
  /** collection → `sha256:<hex>` of its summary.idx (or summary) at lock time. */
  readonly upstream?: Readonly<Record<string, string>>;
  /** The keys that had signed them. */
  readonly keys?: readonly string[];
}

/** The digest a lockfile records for a carried upstream copy: `sha256:` and the hex of its root file. */
export function upstreamDigest(up: PreparedUpstream): string | null {
  const root = up.files.get(up.root);
  return root ? `sha256:${sha256Hex(root)}` : null;
}

export interface UpstreamSet {
  /** collection → the checked copy to carry, or null when none can be had. */
  readonly copies: ReadonlyMap<string, PreparedUpstream | null>;
  /** collection → descriptive keys (xa.title …) for its ostree-metadata commit. */
  readonly meta: ReadonlyMap<string, VarDict>;
  /**
   * collection → the URL its signed, checked upstream summary moves the remote to (`xa.redirect-url`): where
   * flatpak takes a remote made from the drive's `.flatpakrepo`, so the drive hands out that URL.
   */
  readonly redirects?: ReadonlyMap<string, string>;
}

/** Fetches and checks the upstream summaries of `collections` (collection → the source that offers it). */
export async function prepareUpstreams(
  collections: ReadonlyMap<string, Source>,
  policy: UpstreamPolicy,
  warn: Warn,
  checkAbort: () => void,
): Promise<UpstreamSet> {
  const copies = new Map<string, PreparedUpstream | null>();
  const meta = new Map<string, VarDict>();
  const redirects = new Map<string, string>();
  for (const [cid, source] of collections) {
    checkAbort();
    const m = await source.upstreamMetadata(cid);
    if (m) meta.set(cid, m);
    if (policy === 'skip') {
      if (m) await warnUnverifiedKey(cid, m, () => source.trustedKeys(cid), warn);
      continue;
    }
    const up: UpstreamFiles | null = await source.upstreamSummary(cid);
    if (!up) {
      copies.set(cid, null);
      warn(
        'no-upstream-summary',
        `no upstream summary for '${cid}' is available from ${source.description}: this run carries none (a copy ` +
          "the drive holds from an earlier run stays as it was, and may not list the refs' newer commits)",
        { collectionId: cid },
      );
      continue;
    }
    const keys = await source.trustedKeys(cid);
    const check = await checkUpstream(cid, up, keys, policy, (b, what) =>
      gunzipSubsummary(b, what, MAX_SUBSUMMARY_BYTES),
    );
    // What the signed upstream files say wins over what the source read on its own (a repo source's summary file,
    // unchecked there).
    if (!meta.has(cid) || check.signedBy.length > 0) meta.set(cid, check.metadata);
    if (check.signedBy.length === 0) await warnUnverifiedKey(cid, meta.get(cid) as VarDict, async () => keys, warn);
    const redirect = await upstreamRedirect(cid, source, check.metadata, check.signedBy.length > 0, warn);
    if (redirect) redirects.set(cid, redirect);
    const record = encodeUpstreamRecord({
      origin: up.origin,
      signedBy: check.signedBy,
      keys: check.keys,
      root: check.root,
      files: [...up.files.keys()].sort(),
    });
    copies.set(cid, {
      collectionId: cid,
      files: up.files,
      record,
      signedBy: check.signedBy,
      keys: check.keys,
      root: check.root,
    });
  }
  return { copies, meta, redirects };
}

/**
 * The drive's `.flatpakrepo` is the trust root a client adds the remote from; with no GPG key given for the
 * collection it hands out the key the upstream summary names (`xa.gpg-keys`, drive-guide-stage.ts). That key is
 * only as good as the summary, and no key checked this one: say so, so a drive is not handed out on a key nobody
 * checked (a summary changed on its way in names the changer's key, and clients would trust what it signs).
 */
async function warnUnverifiedKey(
  cid: string,
  metadata: VarDict,
  /** The collection's keys, asked for only when the summary names a key. */
  keys: () => Promise<TrustedKeys>,
  warn: Warn,
): Promise<void> {
  if (lookup(metadata, KEY.xaGpgKeys)?.type !== 'ay') return;
  if ((await keys()).gpg.length > 0) return;
  warn(
    'unverified-remote-key',
    `the drive's ${cid}.flatpakrepo hands out the GPG key the upstream summary of '${cid}' names (xa.gpg-keys), ` +
      `and no key given to this run checked that summary: clients that add the remote from the drive will trust ` +
      `that key; pass --gpg-import with the upstream's key`,
    { collectionId: cid },
  );
}

/**
 * The URL a collection's upstream summary moves its remote to (`xa.redirect-url`), when the drive should hand it
 * out. flatpak 1.14 (flatpak_dir_update_remote_configuration, run by `remote-add` and by every transaction) sets a
 * remote's URL to it from the summary (or summary.idx) it has verified with the remote's key; so does the drive,
 * only from a summary whose signature checked here, and only an http(s):// or file:// URL (the kinds it reads).
 * The run itself goes on reading from the URL it was given: the summary came from there signed, and every object
 * is checked by its checksum.
 */
async function upstreamRedirect(
  cid: string,
  source: Source,
  metadata: VarDict,
  signed: boolean,
  warn: Warn,
): Promise<string | null> {
  const v = lookup(metadata, KEY.xaRedirectUrl);
  const to = v?.type === 's' ? (v.value as string) : '';
  if (!to) return null;
  const from = (await source.upstreamRemote?.(cid))?.url;
  const data = { collectionId: cid, redirectUrl: to, ...(from ? { url: from } : {}) };
  const at = from ? `at ${from} ` : '';
  let ok = false;
  try {
    // URL() drops tabs and line breaks it meets: a value with any is no URL to print into a .flatpakrepo.
    // eslint-disable-next-line no-control-regex
    ok = ['http:', 'https:', 'file:'].includes(new URL(to).protocol) && !/[\s\x00-\x1f\x7f]/.test(to);
  } catch {
    ok = false;
  }
  if (!signed || !ok) {
    warn(
      'upstream-redirect',
      `the upstream summary of '${cid}' ${at}redirects to ${JSON.stringify(to)} (xa.redirect-url), not followed: ` +
        (signed ? 'not an http(s):// or file:// URL' : 'no signature of the summary was checked'),
      data,
    );
    return null;
  }
  if (from && from.replace(/\/+$/, '') === to.replace(/\/+$/, '')) return null;
  warn(
    'upstream-redirect',
    `the signed upstream summary of '${cid}' moves its remote ${from ? `from ${from} ` : ''}to ${to} ` +
      `(xa.redirect-url), as flatpak does: the drive's ${cid}.flatpakrepo and README hand out ${to}` +
      (from ? ` (this run read from ${from})` : ''),
    data,
  );
  return to;
}

/**
 * A run from a lockfile carries the upstream summaries as they are now; when one is not the one locked (the upstream
 * published since, or signs with another key), the drive differs from what was reviewed: a warning names both, and
 * `--strict` stops the run there. Lockfiles of sideload 0.1 recorded the signature kinds (`gpg`, `ed25519`) in
 * `keys` instead of the keys: those are not compared.
 */
export function checkUpstreamPins(set: UpstreamSet, pins: ReadonlyMap<string, UpstreamPin>, warn: Warn): void {
  for (const [cid, pin] of pins) {
    const up = set.copies.get(cid);
    const locked = pin.upstream?.[cid];
    if (!up) continue; // none carried: no-upstream-summary says so
    const now = upstreamDigest(up);
    if (locked && now !== locked)
      warn(
        'lock-upstream-changed',
        `the upstream summary of '${cid}' is not the one locked (${short(locked)} then, ${short(now ?? 'none')} ` +
          'now): the drive carries the current one; lock again to review it',
        { collectionId: cid, locked, current: now },
      );
    const lockedKeys = (pin.keys ?? []).filter((k) => k !== 'gpg' && k !== 'ed25519');
    const unlocked = up.keys.filter((k) => !lockedKeys.includes(k));
    if (lockedKeys.length && unlocked.length)
      warn(
        'lock-upstream-changed',
        `the upstream summary of '${cid}' is signed by ${unlocked.join(', ')}, which the lock does not name ` +
          `(it names ${lockedKeys.join(', ')}); lock again to review the key`,
        { collectionId: cid, keys: [...up.keys], lockedKeys },
      );
  }
}

const short = (digest: string) => digest.replace(/^(sha256:[0-9a-f]{12})[0-9a-f]+$/, '$1…');

/** True when the drive already carries exactly this copy (same files, same bytes, same record). */
export async function upstreamOnDrive(repo: string, up: PreparedUpstream): Promise<boolean> {
  const dir = path.join(repo, UPSTREAM_DIR, up.collectionId);
  const want = new Map<string, Uint8Array>(up.files);
  want.set(UPSTREAM_RECORD, Buffer.from(up.record));
  const have: string[] = [];
  const walk = async (d: string, rel: string): Promise<boolean> => {
    let entries;
    try {
      entries = await fs.readdir(d, { withFileTypes: true });
    } catch {
      return false;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (!(await walk(path.join(d, e.name), r))) return false;
      } else if (e.isFile()) have.push(r);
      else return false;
    }
    return true;
  };
  if (!(await walk(dir, ''))) return false;
  if (have.length !== want.size || have.some((name) => !want.has(name))) return false;
  // A few files at a time (small ones: the signed summary set and the record).
  const same = await mapLimit(have, 4, async (name) => {
    const bytes = want.get(name) as Uint8Array;
    const onDisk = await readLocalFile(path.join(dir, name), bytes.length).catch(() => null);
    return !!onDisk && Buffer.from(bytes).equals(onDisk);
  });
  return same.every(Boolean);
}
