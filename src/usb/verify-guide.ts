/**
 * verify's check of what the drive tells a receiving machine (drive.md §7): a collection's `<cid>.flatpakrepo` at
 * the drive root is what its remote is made from. So it must be a file flatpak reads, for this collection; the key
 * it hands out must be one of the upstream keys given to verify (else a client would come to trust a key nobody
 * checked); and every commit of the collection must be signed by that key, the one the remote will trust. (flatpak
 * 1.14 installs a drive's commits into a user installation without checking them against the remote's key:
 * test/interop/drive-guide.test.ts shows it; so a mismatch is not caught at install time, only here.) A drive
 * without the file (`flatpak create-usb` writes none) is not faulted.
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure } from '../errors.js';
import { FLATPAKREPO_LIMIT, readFlatpakrepo } from '../flatpak/flatpakrepo.js';
import { GpgVerifier } from '../sign/index.js';
import { CommitVerifier } from './commit-signatures.js';
import { flatpakrepoName } from './drive-guide.js';
import { readTextSafe } from './drive-fs.js';
import { error, type Finding } from './findings.js';
import { keysFor, type UpstreamKeys } from './verify-upstream.js';
import { failedCommitChecks } from './verify-signatures.js';
import type { RepoView } from './verify-view.js';

export async function checkFlatpakrepos(driveRoot: string, v: RepoView, keys: UpstreamKeys): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [cid, entries] of v.listed) {
    const name = flatpakrepoName(cid);
    const rel = path.relative(v.repo, path.join(driveRoot, name));
    const invalid = (why: string) =>
      findings.push(
        error('flatpakrepo-invalid', `'${name}' ${why}: a client cannot add the remote for '${cid}' from it`, rel),
      );
    const st = await fs.lstat(path.join(driveRoot, name)).catch(() => null);
    if (!st) continue;
    if (!st.isFile()) {
      invalid(st.isSymbolicLink() ? 'is a symbolic link' : 'is not a regular file');
      continue;
    }
    if (st.size > FLATPAKREPO_LIMIT) {
      invalid(`is ${st.size} bytes (a .flatpakrepo is a few KiB)`);
      continue;
    }
    const text = await readTextSafe(driveRoot, name, FLATPAKREPO_LIMIT).catch(() => null);
    const read = text === null ? { ok: false as const, reason: 'could not be read' } : readFlatpakrepo(text);
    if (!read.ok) {
      invalid(`is not a .flatpakrepo (${read.reason})`);
      continue;
    }
    if (read.collectionId !== undefined && read.collectionId !== cid) {
      invalid(`names collection '${read.collectionId}'`);
      continue;
    }
    if (read.collectionId && !read.gpgKey) {
      invalid(`gives collection ID '${read.collectionId}' without a GPGKey (flatpak refuses that)`);
      continue;
    }
    if (!read.gpgKey) continue; // no key known when it was written: no collection ID either, nothing to check
    let handed: string[];
    try {
      handed = (await GpgVerifier.fromKeyrings([read.gpgKey])).fingerprints();
    } catch (e) {
      invalid(`holds a GPGKey that is not an OpenPGP key (${expectFailure(e).message})`);
      continue;
    }
    const given = keysFor(keys, cid).upstreamGpg;
    if (given.length) {
      const trusted = new Set((await GpgVerifier.fromKeyrings(given)).fingerprints());
      const foreign = handed.filter((f) => !trusted.has(f));
      if (foreign.length)
        findings.push(
          error(
            'flatpakrepo-untrusted-key',
            `'${name}' hands clients GPG key ${foreign.join(', ')}, which is not among the given upstream keys: ` +
              'a machine that adds the remote from it would trust that key',
            rel,
          ),
        );
    }
    // One finding per way of failing (unsigned, or signed by these keys), naming the refs it stops.
    const verifier = new CommitVerifier({ gpg: [read.gpgKey], ed25519: [] });
    const stopped = new Map<string, string[]>();
    for (const { entry: e, check: r } of await failedCommitChecks(v, verifier, entries)) {
      const signer = r.signerKeyIds.length ? `GPG key ${r.signerKeyIds.join(', ')}` : 'another key';
      const why =
        r.problem === 'unsigned'
          ? `not signed (that file hands out ${handed.join(', ')})`
          : `signed by ${signer}, not by the key that file hands out (${handed.join(', ')})`;
      stopped.set(why, [...(stopped.get(why) ?? []), e.ref]);
    }
    for (const [why, refs] of stopped)
      findings.push(
        error(
          'flatpakrepo-key-mismatch',
          `the remote a client adds from '${name}' cannot vouch for ` +
            `${refs.length === 1 ? 'this ref, whose commit is' : `these ${refs.length} refs, whose commits are`} ${why}; ` +
            `flatpak 1.14 installs them into a user installation unchecked: ${refs.join(', ')}`,
          rel,
        ),
      );
  }
  return findings;
}
