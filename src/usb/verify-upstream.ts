/** verify's check of the upstream copies a drive carries (`UPSTREAM_DIR/<collection>`). */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure } from '../errors.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { encodeDetached, readSignatures } from '../sign/index.js';
import { decodeSummary, summaryCollections, type DecodedRef } from '../summary/summary.js';
import { error, warning, type Finding } from './findings.js';
import { checkUpstream } from './upstream.js';
import { readUpstreamRecord, UPSTREAM_RECORD } from './upstream-record.js';
import { checkSideloadJson } from './verify-net.js';
import { MAX_SUBSUMMARY_BYTES, UPSTREAM_DIR } from './upstream-copy.js';
import { readLocalFile } from '../transport/local.js';
import { OLD_UPSTREAM_COPY, upstreamStrayFindings } from './verify-hostile.js';

/** Keys to check the carried upstream summaries (and the copied commits) with: GPG keyrings, ed25519 keys. */
export interface UpstreamKeys {
  /** For every collection. */
  readonly upstreamGpg?: readonly Uint8Array[];
  readonly upstreamEd25519?: readonly Uint8Array[];
  /**
   * For one collection each (`verify --gpg-import COLLECTION_ID=FILE`), beside the ones for every collection: a
   * drive of two upstreams is checked with each upstream's own keys, so a collection signed by the other
   * upstream's key fails.
   */
  readonly collectionKeys?: Readonly<Record<string, CollectionKeys>>;
}

export interface CollectionKeys {
  readonly upstreamGpg?: readonly Uint8Array[];
  readonly upstreamEd25519?: readonly Uint8Array[];
}

/** The keys that check collection `cid`: those for every collection and those given for it alone. */
export function keysFor(k: UpstreamKeys, cid: string): { upstreamGpg: Uint8Array[]; upstreamEd25519: Uint8Array[] } {
  const own = k.collectionKeys && Object.hasOwn(k.collectionKeys, cid) ? k.collectionKeys[cid] : undefined;
  return {
    upstreamGpg: [...(k.upstreamGpg ?? []), ...(own?.upstreamGpg ?? [])],
    upstreamEd25519: [...(k.upstreamEd25519 ?? []), ...(own?.upstreamEd25519 ?? [])],
  };
}

/** Each carried upstream copy: its digest chain and signatures, and that the drive's refs are in it. */
export async function checkUpstreamCopies(
  repo: string,
  listed: ReadonlyMap<string, readonly DecodedRef[]> | null,
  opts: UpstreamKeys,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  const upRoot = path.join(repo, UPSTREAM_DIR);
  for (const cid of (await fs.readdir(upRoot).catch(() => [] as string[])).sort()) {
    const dir = path.join(upRoot, cid);
    const rel = `${UPSTREAM_DIR}/${cid}`;
    if (OLD_UPSTREAM_COPY.test(cid)) continue; // an interrupted run's old copy: a 'leftover' finding
    const stray = await upstreamStrayFindings(dir, rel);
    findings.push(...stray.filter((f) => f.code !== 'upstream-extra-file'));
    if (stray.some((f) => f.code === 'upstream-not-directory')) continue;
    const files = new Map<string, Uint8Array>();
    for (const f of await listFiles(dir)) {
      if (f === UPSTREAM_RECORD) continue;
      // A symlink or special file is reported by upstreamStrayFindings; bounded as the copy was when written.
      const bytes = await readLocalFile(path.join(dir, f), MAX_SUBSUMMARY_BYTES).catch(() => null);
      if (bytes) files.set(f, bytes);
    }
    const own = keysFor(opts, cid);
    const keys = { gpg: own.upstreamGpg, ed25519: own.upstreamEd25519 };
    // The record's shape and file list, named as such (before the signature check, which stops at a bad record).
    findings.push(...(await checkSideloadJson(dir, rel, await listFiles(dir))));
    try {
      await readUpstreamRecord(dir); // a record that does not parse is damage too
      // Signatures of a kind no key was given for cannot be checked: leave them out (the digest chain is still
      // checked), or a good drive would fail for want of keys.
      const checkable = withoutUncheckableSignatures(files, {
        gpg: keys.gpg.length > 0,
        ed25519: keys.ed25519.length > 0,
      });
      const check = await checkUpstream(
        cid,
        { origin: rel, files: checkable },
        keys,
        'allow-unsigned',
        undefined,
        'pass the upstream key with --gpg-import KEYFILE',
      );
      if (check.unsignedCompat && (keys.gpg.length || keys.ed25519.length))
        findings.push(
          error(
            'upstream-unverified',
            `the upstream summary of '${cid}' has no signature beside its signed summary.idx: its bytes cannot be ` +
              'checked',
            `${rel}/summary`,
          ),
        );
      if (check.signedBy.length === 0) {
        if (keys.gpg.length || keys.ed25519.length)
          findings.push(
            error(
              'upstream-unverified',
              `the upstream summary of '${cid}' is not signed by the given upstream keys`,
              rel,
            ),
          );
        else
          findings.push(
            warning(
              'upstream-not-checked',
              `the upstream summary of '${cid}' was not checked: pass --gpg-import or --upstream-key` +
                // Keys given for other collections alone: name the form that gives this one its own.
                (Object.keys(opts.collectionKeys ?? {}).length ? ` (for it alone: ${cid}=KEYFILE)` : ''),
              rel,
            ),
          );
      }
      const up = files.get('summary');
      if (up && listed) {
        const decoded = decodeSummary(up, `${rel}/summary`); // once: a Flathub-size summary is 1.4 MB
        const known = new Set([...(summaryCollections(decoded).get(cid) ?? []), ...decoded.refs].map((r) => r.ref));
        for (const e of listed.get(cid) ?? [])
          if (e.ref !== METADATA_REF && !known.has(e.ref) && !e.ref.startsWith('appstream'))
            findings.push(
              warning(
                'unknown-upstream',
                `'${e.ref}' on the drive is not in the upstream summary of '${cid}'`,
                `refs/mirrors/${cid}/${e.ref}`,
              ),
            );
      }
    } catch (e) {
      findings.push(error('upstream-tampered', `upstream summary of '${cid}': ${expectFailure(e).message}`, rel));
    }
    // Files the index does not account for count only while the index itself checks (else that is the finding).
    if (!findings.some((f) => f.code === 'upstream-tampered' && f.path === rel))
      findings.push(...stray.filter((f) => f.code === 'upstream-extra-file'));
  }
  return findings;
}

/**
 * The upstream files with, in each `*.sig`, only the signature kinds there are keys for (re-encoded in normal
 * form; a `.sig` left with no signature is dropped, so the file counts as unsigned).
 */
function withoutUncheckableSignatures(
  files: ReadonlyMap<string, Uint8Array>,
  have: { gpg: boolean; ed25519: boolean },
): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, bytes] of files) {
    if (!name.endsWith('.sig') || (have.gpg && have.ed25519)) {
      out.set(name, bytes);
      continue;
    }
    const keep = ([KEY.gpgSigs, KEY.ed25519Sigs] as const)
      .filter((k) => (k === KEY.gpgSigs ? have.gpg : have.ed25519))
      .map((k) => [k, readSignatures(bytes, k)] as const)
      .filter(([, sigs]) => sigs.length > 0);
    if (keep.length) out.set(name, encodeDetached(keep));
  }
  return out;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [] as fs.Dirent[])) {
    if (e.isDirectory()) out.push(...(await listFiles(path.join(dir, e.name), `${prefix}${e.name}/`)));
    // Never read through a symlink (upstreamStrayFindings reports it).
    else if (e.isFile()) out.push(`${prefix}${e.name}`);
  }
  return out.sort();
}
