/**
 * `create --repair` / `update --repair`: finding the refs a drive keeps whose objects are not all there and intact
 * (a lost `.filez`, a flipped byte) under a commit that is, which the cheap checks of a re-run do not look for. The
 * run then copies each of them again from a source holding its commit, with every object re-hashed (apply.ts).
 */
import { CorruptError, NotFoundError } from '../errors.js';
import { forEachLimitOf } from '../repo/for-each-limit.js';
import { openObjectSource, verifyObject, walkCommit, type ObjectSource } from '../repo/index.js';
import type { DriveState } from './drive-state.js';
import type { DrivePlan, PlanEntry } from './plan.js';
import type { Source } from './source.js';
import { VERIFY_CONCURRENCY } from './verify-objects.js';

/**
 * `repair`: the refs the run keeps whose commit the drive holds but not everything it reaches intact (an object
 * missing, or whose bytes do not match its name), each with a source that holds the commit. Only reads the drive:
 * every object reached is re-hashed once. Also the content objects found intact, which the copy that mends a damaged
 * ref need not hash again. @throws NotFoundError for a damaged ref no source of the run holds.
 */
export async function damagedRefs(
  input: {
    readonly plan: DrivePlan;
    readonly state: DriveState;
    readonly repo: string;
    readonly sources: readonly Source[];
  },
  signal?: AbortSignal,
): Promise<{
  readonly damaged: Array<{ readonly entry: PlanEntry; readonly source: Source }>;
  readonly intact: ReadonlySet<string>;
}> {
  const kept = input.plan.entries.filter(
    (e) => (e.action === 'unchanged' || e.action === 'kept') && e.commit !== null && input.state.commits.has(e.commit),
  );
  const out = [];
  const checked = new Set<string>();
  if (!kept.length) return { damaged: [], intact: checked };
  const drive = await openObjectSource(input.repo);
  try {
    for (const e of kept) {
      const commit = e.commit as string;
      if (await intact(drive, commit, e, checked, signal)) continue;
      out.push({ entry: e, source: await sourceHolding(input.sources, e, commit) });
    }
  } finally {
    await drive.close();
  }
  return { damaged: out, intact: checked };
}

/**
 * Whether everything `commit` reaches on the drive is there and intact (within `e`'s subpaths): its metadata as the
 * walk reads it, and each content object not in `checked` re-hashed, VERIFY_CONCURRENCY at once (as verify does);
 * objects found intact join `checked`. Errors other than a missing or corrupt object are thrown once the checks in
 * flight have settled.
 */
async function intact(
  drive: ObjectSource,
  commit: string,
  e: PlanEntry,
  checked: Set<string>,
  signal?: AbortSignal,
): Promise<boolean> {
  const damage = (err: unknown): boolean => err instanceof CorruptError || err instanceof NotFoundError;
  let damaged = false;
  async function* files(): AsyncGenerator<string> {
    for await (const w of walkCommit(drive, commit, {
      subpaths: e.subpaths,
      ref: e.ref,
      ...(signal ? { signal } : {}),
    }))
      if (w.type === 'file' && !checked.has(w.checksum)) yield w.checksum;
  }
  try {
    await forEachLimitOf(
      files(),
      VERIFY_CONCURRENCY,
      async (sum) => {
        // Marked as it starts (before the walk goes on: no second check of it), taken back if it is not intact. An
        // object the pool took and did not run (after damage was found) is not marked.
        checked.add(sum);
        try {
          await verifyObject(drive, sum, 'file', signal);
        } catch (err) {
          checked.delete(sum);
          if (!damage(err)) throw err;
          damaged = true;
        }
      },
      () => damaged,
    );
  } catch (err) {
    if (!damage(err)) throw err;
    damaged = true; // the walk's own: a dirtree or dirmeta missing or corrupt
  }
  return !damaged;
}

/** The run's source that planned `e`, else the first that holds its commit. */
async function sourceHolding(sources: readonly Source[], e: PlanEntry, commit: string): Promise<Source> {
  const planned = e.source !== undefined ? sources[e.source] : undefined;
  if (planned) return planned;
  for (const s of sources) {
    const has = await (s.objectsFor?.(commit) ?? s.objects).readMetadata(commit, 'commit').then(
      () => true,
      (err: unknown) => {
        if (err instanceof NotFoundError || err instanceof CorruptError) return false;
        throw err;
      },
    );
    if (has) return s;
  }
  throw new NotFoundError(
    `'${e.ref}' (${e.collectionId}) on the drive is damaged (an object missing or corrupt) and no source of this run ` +
      `holds its commit ${commit}: name a source that has it to repair it`,
    { ref: e.ref, collectionId: e.collectionId, commit },
  );
}
