/**
 * verify's checks of the objects: every object file re-hashed against its name, every object reachable from each
 * listed commit present (partial refs: within their recorded subpaths), and the commits no ref lists complete or
 * marked partial (as `ostree fsck` wants them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { expectFailure, SideloadError } from '../errors.js';
import { METADATA_REF } from '../ostree/formats.js';
import { listObjects, verifyObject, walkCommit, type LooseObject, type ObjectSource } from '../repo/index.js';
import { forEachLimitOf } from '../repo/for-each-limit.js';
import { recordedSubpaths, recordsRefs } from '../summary/metadata-commit.js';
import type { ProgressCallback } from './events.js';
import { error, warning, type Finding } from './findings.js';
import { checkAbort, objectPath, type RepoView } from './verify-view.js';

export interface ObjectScanOptions {
  /** Skip re-hashing every object (structure only). Default false. */
  readonly quick?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: ProgressCallback;
  /** The clock (ms) of the progress cadence; default Date.now. */
  readonly now?: () => number;
}

/** How often verify reports progress besides every 256 objects: also within a large object, by its bytes. */
export const VERIFY_PROGRESS_MS = 200;

/**
 * Objects re-hashed at once: the inflating runs on libuv's threads and the reading waits on the drive while the main
 * thread hashes another object. Measured on the bench's 384 MiB drive (8,848 objects), see the commit that set it.
 */
export const VERIFY_CONCURRENCY = 4;

/** Lists every object file and (unless quick) re-hashes it. */
export async function checkObjects(
  repo: string,
  objects: ObjectSource,
  opts: ObjectScanOptions,
): Promise<{ findings: Finding[]; present: Set<string>; count: number }> {
  const found: Array<{ at: number; finding: Finding }> = [];
  const present = new Set<string>();
  let count = 0;
  let done = 0;
  // Progress: every 256 objects, and at least every VERIFY_PROGRESS_MS, within an object too (a drive of a few
  // large objects showed its bar only at the end). Bytes are those read and hashed; inside an object the fraction
  // moves from where the last report left it towards this one's share of the listing, by its bytes on the drive.
  // Objects finish out of listing order (several at once): the fraction only ever moves forward.
  const now = opts.now ?? Date.now;
  const report = opts.onProgress;
  let bytes = 0;
  let fraction = 0;
  let last = now();
  const emit = (objectsDone: number, f: number) => {
    last = now();
    fraction = Math.max(fraction, f);
    report?.({ phase: 'verify', objectsDone, bytesDone: bytes, fraction });
  };
  const check = async (o: LooseObject, at: number): Promise<void> => {
    let inObject = 0;
    let size: number | null = null;
    const from = fraction;
    const onBytes = !report
      ? undefined
      : (n: number) => {
          bytes += n;
          inObject += n;
          if (n <= 0 || now() - last < VERIFY_PROGRESS_MS) return;
          // Its size once it is worth a report: only objects that take a while are stat()ed.
          size ??= fs.statSync(path.join(repo, o.path), { throwIfNoEntry: false })?.size ?? 0;
          const share = size > 0 ? Math.min(1, inObject / size) : 0;
          emit(done, from + (o.listed - from) * share);
        };
    try {
      await verifyObject(objects, o.checksum, o.type, opts.signal, onBytes);
    } catch (e) {
      // An object cut short by Ctrl-C is not a corrupt one (the scan stops below).
      if (!opts.signal?.aborted) found.push({ at, finding: error('corrupt-object', expectFailure(e).message, o.path) });
    }
    done++;
    if (report && (done % 256 === 0 || now() - last >= VERIFY_PROGRESS_MS)) emit(done, o.listed);
  };
  async function* listed(): AsyncGenerator<{ o: LooseObject; at: number }> {
    for await (const o of listObjects(repo)) {
      count++;
      present.add(`${o.checksum}.${o.type}`);
      if (!opts.quick) yield { o, at: count };
    }
  }
  await forEachLimitOf(
    listed(),
    VERIFY_CONCURRENCY,
    ({ o, at }) => check(o, at),
    () => !!opts.signal?.aborted,
  );
  checkAbort(opts.signal);
  if (!opts.quick && count > 0) emit(count, 1);
  const findings = found.sort((a, b) => a.at - b.at).map((f) => f.finding);
  return { findings, present, count };
}

/** Every object reachable from each listed commit is present (partial refs: within their recorded subpaths). */
export async function checkCompleteness(v: RepoView): Promise<Finding[]> {
  const findings: Finding[] = [];
  const { subpathsOf, recordsSubpaths } = await recordedPartials(v);
  for (const [cid, entries] of v.listed) {
    for (const e of entries) {
      if (!(await v.loadCommit(e.checksum))) continue;
      const marker = `state/${e.checksum}.commitpartial`;
      const partial = await v.store.isCommitPartial(e.checksum);
      const subpaths = subpathsOf.get(`${cid}\0${e.ref}`) ?? null;
      const recorded = recordsSubpaths.has(cid);
      if (partial && !subpaths && recorded)
        findings.push(
          error(
            'unexpected-partial',
            `'${e.ref}' is marked partial but the ostree-metadata commit records it as complete ` +
              '(was an object lost?)',
            marker,
          ),
        );
      else if (partial && !subpaths)
        findings.push(
          warning(
            'partial-unknown-subpaths',
            `'${e.ref}' is partial and its subpaths are not recorded; checked what is reachable`,
            marker,
          ),
        );
      if (!partial && subpaths)
        findings.push(
          error(
            'partial-marker-missing',
            `'${e.ref}' is a subset (${subpaths.join(', ')}) but has no commitpartial marker: ` +
              'online clients would treat it as complete',
            marker,
          ),
        );
      const walk = await missingObjects(v, e.checksum, e.ref, subpaths, partial && !subpaths && !recorded);
      if (walk.tooDeep) {
        findings.push(error('tree-too-deep', walk.tooDeep, `refs/mirrors/${cid}/${e.ref}`));
        continue;
      }
      if (walk.missing || walk.corrupt)
        findings.push(
          error(
            'incomplete-ref',
            `'${e.ref}' of '${cid}' is incomplete: ${walkProblems(walk)}`,
            `refs/mirrors/${cid}/${e.ref}`,
          ),
        );
    }
  }
  return findings;
}

/**
 * Commits on the drive that no ref points at (what an update or remove leaves until prune): `ostree fsck` checks
 * them too, and takes one without a commitpartial marker for complete. One with objects missing and no marker (a
 * partial ref's old commit, as earlier versions of sideload left them) makes fsck fail; prune deletes it.
 */
export async function checkUnreferencedCommits(v: RepoView): Promise<Finding[]> {
  const referenced = new Set([...v.listed.values()].flatMap((entries) => entries.map((e) => e.checksum)));
  const findings: Finding[] = [];
  for (const key of v.present) {
    if (!key.endsWith('.commit')) continue;
    const checksum = key.slice(0, -'.commit'.length);
    if (referenced.has(checksum) || (await v.store.isCommitPartial(checksum))) continue;
    const walk = await missingObjects(v, checksum, `commit ${checksum}`, null, false);
    if (walk.missing || walk.corrupt)
      findings.push(
        warning(
          'unreferenced-incomplete',
          `commit ${checksum}, which no ref points at, lacks objects (${walk.corrupt ? walkProblems(walk) : `first ${walk.first}`}) and has no ` +
            "commitpartial marker: 'ostree fsck' reports the repo as corrupt; 'sideload prune' deletes it",
          objectPath(checksum, 'commit'),
        ),
      );
  }
  return findings;
}

/**
 * What each collection's ostree-metadata commit records: the subpaths of each partial ref (`cid\0ref` → paths),
 * and the collections whose commit records every partial ref (there a ref it leaves out is complete).
 */
async function recordedPartials(
  v: RepoView,
): Promise<{ subpathsOf: Map<string, readonly string[]>; recordsSubpaths: Set<string> }> {
  const subpathsOf = new Map<string, readonly string[]>();
  const recordsSubpaths = new Set<string>();
  for (const [cid, entries] of v.listed) {
    const meta = entries.find((e) => e.ref === METADATA_REF);
    const c = meta ? await v.loadCommit(meta.checksum) : null;
    for (const [ref, paths] of c ? recordedSubpaths(c.commit.metadata) : []) subpathsOf.set(`${cid}\0${ref}`, paths);
    // An ostree-metadata commit written by sideload records every partial ref: then a ref it leaves out is
    // complete, whatever marker is on the drive (`ostree fsck` marks a commit with missing objects partial).
    if (c && recordsRefs(c.commit.metadata)) recordsSubpaths.add(cid);
  }
  return { subpathsOf, recordsSubpaths };
}

/**
 * Walks a commit and counts the reachable objects that are not on the drive (`first`: the first one, for the
 * message); a dirtree or dirmeta that is missing counts once, as the walk stops there, and one that is on the drive
 * but does not decode or match its name is `corrupt` (its path: the walk stops there too).
 * `tooDeep`: the message of a tree nested past the limit (then nothing is counted).
 */
async function missingObjects(
  v: RepoView,
  checksum: string,
  ref: string,
  subpaths: readonly string[] | null,
  tolerateMissing: boolean,
): Promise<Walk> {
  let missing = 0;
  let first = '';
  try {
    for await (const o of walkCommit(v.objects, checksum, { subpaths, tolerateMissing, ref })) {
      if (!v.present.has(`${o.checksum}.${o.type}`)) {
        missing++;
        first ||= `${objectPath(o.checksum, o.type)}${o.path ? ` (${o.path})` : ''}`;
      }
    }
  } catch (err) {
    const failure = expectFailure(err);
    if (failure instanceof SideloadError && failure.code === 'ETOODEEP')
      return { missing, first, tooDeep: failure.message };
    // A dirtree or dirmeta that is missing or does not decode: the walk cannot go past it.
    const d = failure instanceof SideloadError ? failure.data : {};
    const known = typeof d['checksum'] === 'string' && typeof d['type'] === 'string';
    // On the drive, yet it does not decode or hash to its name: corrupt (its corrupt-object finding says how).
    if (known && v.present.has(`${d['checksum'] as string}.${d['type'] as string}`))
      return { missing, first, corrupt: `${objectPath(d['checksum'] as string, d['type'] as string)} is corrupt` };
    missing++;
    first ||= `${known ? objectPath(d['checksum'] as string, d['type'] as string) : failure.message} (the walk stops there)`;
  }
  return { missing, first };
}

interface Walk {
  readonly missing: number;
  readonly first: string;
  readonly corrupt?: string;
  readonly tooDeep?: string;
}

/** What a walk found wrong, for a message ("1 object missing, first …", "… is corrupt (…): the walk stops there"). */
function walkProblems(w: Walk): string {
  return [
    ...(w.missing ? [`${w.missing} ${w.missing === 1 ? 'object' : 'objects'} missing, first ${w.first}`] : []),
    ...(w.corrupt ? [`${w.corrupt}: the walk stops there`] : []),
  ].join('; ');
}
