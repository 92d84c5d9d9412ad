/**
 * `create --repair` / `update --repair`: finding the refs a drive keeps whose objects are not all there and intact
 * (a lost `.filez`, a flipped byte) under a commit that is, which the cheap checks of a re-run do not look for. The
 * run then copies each of them again from a source holding its commit, with every object re-hashed (apply.ts).
 */
import { CorruptError, NotFoundError } from '../errors.js';
import { openObjectSource, verifyObject, walkCommit } from '../repo/index.js';
import type { DriveState } from './drive-state.js';
import type { DrivePlan, PlanEntry } from './plan.js';
import type { Source } from './source.js';

/**
 * `repair`: the refs the run keeps whose commit the drive holds but not everything it reaches intact (an object
 * missing, or whose bytes do not match its name), each with a source that holds the commit. Only reads the drive:
 * every object reached is re-hashed once. @throws NotFoundError for a damaged ref no source of the run holds.
 */
export async function damagedRefs(
  input: {
    readonly plan: DrivePlan;
    readonly state: DriveState;
    readonly repo: string;
    readonly sources: readonly Source[];
  },
  signal?: AbortSignal,
): Promise<Array<{ readonly entry: PlanEntry; readonly source: Source }>> {
  const kept = input.plan.entries.filter(
    (e) => (e.action === 'unchanged' || e.action === 'kept') && e.commit !== null && input.state.commits.has(e.commit),
  );
  if (!kept.length) return [];
  const out = [];
  const checked = new Set<string>();
  const drive = await openObjectSource(input.repo);
  try {
    for (const e of kept) {
      const commit = e.commit as string;
      let damaged = false;
      try {
        for await (const w of walkCommit(drive, commit, {
          subpaths: e.subpaths,
          ref: e.ref,
          ...(signal ? { signal } : {}),
        })) {
          if (w.type !== 'file' || checked.has(w.checksum)) continue;
          await verifyObject(drive, w.checksum, 'file', signal);
          checked.add(w.checksum);
        }
      } catch (err) {
        if (!(err instanceof CorruptError) && !(err instanceof NotFoundError)) throw err;
        damaged = true;
      }
      if (!damaged) continue;
      out.push({ entry: e, source: await sourceHolding(input.sources, e, commit) });
    }
  } finally {
    await drive.close();
  }
  return out;
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
