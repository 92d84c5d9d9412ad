/**
 * verify's checks of summary ↔ refs ↔ ostree-metadata: the summary file decodes, each ref it lists exists with the
 * same checksum and matches its commit, each ref on disk is listed, and each collection's ostree-metadata commit
 * agrees with the summary (and, given keys, is signed by a trusted one).
 */
import path from 'node:path';
import fs from 'fs-extra';
import { expectFailure } from '../errors.js';
import { STAGING_DIR } from '../repo/index.js';
import { KEY, METADATA_REF } from '../ostree/formats.js';
import { Ed25519Verifier, readSignatures } from '../sign/index.js';
import { checkMetadataCommit } from '../summary/metadata-commit.js';
import { decodeSummary, type DecodedRef, type DecodedSummary } from '../summary/summary.js';
import { error, warning, type Finding } from './findings.js';
import { readSummaryBytes } from './drive-state.js';
import { objectPath, type RepoView } from './verify-view.js';

export async function readSummaryFile(
  repo: string,
): Promise<{ findings: Finding[]; bytes: Uint8Array | null; summary: DecodedSummary | null }> {
  let bytes: Uint8Array | null;
  try {
    bytes = await readSummaryBytes(repo);
  } catch (e) {
    // A symlink (to /dev/zero, say), a special file, one too large: named, and not read.
    return { findings: [error('bad-summary', expectFailure(e).message, 'summary')], bytes: null, summary: null };
  }
  if (!bytes) {
    // A first run cut short leaves the repo with its staging area and nothing published: say how to go on.
    const staged = await fs.pathExists(path.join(repo, STAGING_DIR));
    const message =
      'the repo has no summary: clients ignore it' +
      (staged
        ? ` (nothing was published yet: a run cut short left objects staged in ${STAGING_DIR}; run the same ` +
          'command again to finish it)'
        : '');
    return { findings: [error('no-summary', message, 'summary')], bytes: null, summary: null };
  }
  try {
    return { findings: [], bytes, summary: decodeSummary(bytes, 'summary') };
  } catch (e) {
    return { findings: [error('bad-summary', expectFailure(e).message, 'summary')], bytes, summary: null };
  }
}

/** summary ↔ refs/mirrors ↔ commits: each listed ref exists with the same checksum, each commit matches its entry. */
export async function checkSummaryRefs(v: RepoView): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (v.summary?.refs.length)
    findings.push(
      warning(
        'main-refs',
        `the summary's main ref list has ${v.summary.refs.length} refs; offline clients only read the collection-map`,
        'summary',
      ),
    );
  for (const [cid, entries] of v.listed) {
    const onDisk = v.refs.get(cid) ?? new Map<string, string>();
    for (const e of entries) findings.push(...(await checkListedRef(v, cid, e, onDisk.get(e.ref))));
    for (const [ref] of onDisk)
      if (!entries.some((e) => e.ref === ref))
        findings.push(
          error(
            'ref-not-in-summary',
            `refs/mirrors/${cid}/${ref} is not in the summary: clients cannot see it`,
            `refs/mirrors/${cid}/${ref}`,
          ),
        );
  }
  for (const cid of v.refs.keys())
    if (!v.listed.has(cid))
      findings.push(
        error(
          'collection-not-in-summary',
          `collection '${cid}' has refs but is not in the summary`,
          `refs/mirrors/${cid}`,
        ),
      );
  return findings;
}

/** One ref the summary lists under `cid`: its ref file (`disk`: the checksum in it) and its commit. */
async function checkListedRef(v: RepoView, cid: string, e: DecodedRef, disk: string | undefined): Promise<Finding[]> {
  const findings: Finding[] = [];
  const p = `refs/mirrors/${cid}/${e.ref}`;
  if (disk === undefined) {
    // A ref file that holds no checksum is read as no ref (lenient): it is there, and says so.
    const there = (await fs.lstat(path.join(v.repo, p)).catch(() => null))?.isFile() ?? false;
    findings.push(
      error(
        'summary-ref-missing',
        `the summary lists '${e.ref}' of '${cid}' but ${p} ${there ? 'does not hold a checksum' : 'does not exist'}`,
        p,
      ),
    );
  } else if (disk !== e.checksum)
    findings.push(
      error(
        'summary-ref-mismatch',
        `'${e.ref}' of '${cid}' is ${e.checksum.slice(0, 12)}… in the summary but ${disk.slice(0, 12)}… in ${p}`,
        p,
      ),
    );
  const c = await v.loadCommit(e.checksum);
  const commitPath = objectPath(e.checksum, 'commit');
  if (!c && !v.present.has(`${e.checksum}.commit`))
    findings.push(
      error(
        'missing-commit',
        `commit ${e.checksum} of '${e.ref}' is missing: ${commitPath} does not exist`,
        commitPath,
      ),
    );
  else if (!c)
    findings.push(
      error(
        'corrupt-commit',
        `commit ${e.checksum} of '${e.ref}' cannot be read from ${commitPath}: ` +
          (v.commitError(e.checksum) ?? 'corrupt'),
        commitPath,
      ),
    );
  else {
    if (c.size !== e.commitSize)
      findings.push(
        error(
          'summary-size',
          `the summary gives '${e.ref}' a commit size of ${e.commitSize}, the commit has ${c.size} bytes`,
          'summary',
        ),
      );
    if (c.commit.timestamp !== e.timestamp)
      findings.push(
        error('summary-timestamp', `the summary's timestamp for '${e.ref}' differs from its commit's`, 'summary'),
      );
  }
  return findings;
}

/** Each collection's ostree-metadata commit agrees with the summary and (given keys) is signed by a trusted key. */
export async function checkMetadataCommits(
  v: RepoView,
  trustedKeys: readonly Uint8Array[] | undefined,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [cid, entries] of v.listed) {
    const meta = entries.find((e) => e.ref === METADATA_REF);
    if (!meta) {
      findings.push(
        warning(
          'no-ostree-metadata',
          `collection '${cid}' has no ostree-metadata commit`,
          `refs/mirrors/${cid}/${METADATA_REF}`,
        ),
      );
      continue;
    }
    const c = await v.loadCommit(meta.checksum);
    if (!c) continue;
    for (const p of checkMetadataCommit(c.commit, cid, entries, v.summary?.lastModified))
      findings.push(
        error('metadata-mismatch', `ostree-metadata of '${cid}': ${p}`, `refs/mirrors/${cid}/${METADATA_REF}`),
      );
    if (trustedKeys?.length) {
      const cm = await v.objects.readCommitMeta(meta.checksum);
      const sigs = cm ? readSignatures(cm, KEY.ed25519Sigs) : [];
      const bytes = await v.objects.readMetadata(meta.checksum, 'commit');
      const r = sigs.length
        ? await new Ed25519Verifier(trustedKeys).verify(bytes, sigs)
        : { valid: false, reason: 'not signed' };
      if (!r.valid)
        findings.push(
          error(
            'bad-metadata-signature',
            `ostree-metadata of '${cid}' is not signed by a trusted key (${r.reason ?? 'invalid'})`,
            objectPath(meta.checksum, 'commitmeta'),
          ),
        );
    }
  }
  return findings;
}
