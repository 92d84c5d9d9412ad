/**
 * `removeFromDrive`: refs taken off a drive, and what the remaining apps no longer need (create.ts runs the shared
 * steps). Never writes to the console.
 */
import { NotFoundError, UsageError } from '../errors.js';
import { lookup } from '../gvariant/index.js';
import { KEY } from '../ostree/formats.js';
import { splitRef } from '../flatpak/ref.js';
import { finish, startRun, type CreateOptions, type CreateResult } from './create.js';
import { otherReposHolding, type DriveState } from './drive-state.js';
import { planDrive } from './plan.js';
import { unneededRefs } from './unneeded.js';

/** What `removeFromDrive` takes off and what the remaining apps no longer need. */
export interface RemoveOptions extends Omit<CreateOptions, 'refs'> {
  /** Full refs, or app/runtime IDs (every arch and branch of it on the drive). */
  readonly refs: readonly string[];
  /** Also remove runtimes and extensions that no remaining app needs. */
  readonly withDeps?: boolean;
}

export interface RemoveResult extends CreateResult {
  /** Refs no remaining app needs (removed too with `withDeps`). */
  readonly unneeded: ReadonlyArray<{ readonly collectionId: string; readonly ref: string }>;
}

/** Takes refs off a drive (summary and ostree-metadata updated in the same publish step; objects stay until prune). */
export async function removeFromDrive(opts: RemoveOptions): Promise<RemoveResult> {
  if (opts.refs.length === 0) throw new UsageError('no refs given: name the refs to remove');
  const run = await startRun(opts);
  const picked = new Map<string, { collectionId: string; ref: string }>();
  for (const arg of opts.refs) {
    const hits = run.state.refs.filter((r) => matches(r.ref, arg));
    if (hits.length === 0) {
      // A drive of several repos: the run reads one (.ostree/repo unless told); the ref may be in another.
      const elsewhere = await otherReposHolding(run.loc.drive, run.loc.repo, (_, r) => matches(r, arg));
      throw new NotFoundError(
        elsewhere[0] === undefined
          ? `'${arg}' is not on the drive '${run.loc.drive}'`
          : `'${arg}' is not in the repo ${run.loc.repoRel} of the drive '${run.loc.drive}'; its repo ` +
              `${elsewhere[0]} holds it: pass --destination-repo ${elsewhere[0]}`,
        { ref: arg, ...(elsewhere.length ? { repo: run.loc.repo, repos: elsewhere } : {}) },
        'ENOTONDRIVE',
      );
    }
    for (const h of hits) picked.set(`${h.collectionId}\0${h.ref}`, { collectionId: h.collectionId, ref: h.ref });
  }
  const unneeded = await unneededOnDrive(run.state, new Set(picked.keys()));
  if (opts.withDeps) for (const u of unneeded) picked.set(`${u.collectionId}\0${u.ref}`, u);
  const plan = planDrive({ state: run.state, wanted: [], remove: [...picked.values()] });
  const result = await finish(run, opts, plan, [], null);
  return { ...result, unneeded };
}

/** A drive ref named by `arg`: in full, or by its app or runtime ID (every arch and branch). */
const matches = (ref: string, arg: string) => ref === arg || splitRef(ref)?.id === arg;

/**
 * Runtimes and extensions that no app left on the drive needs once `removed` is gone, by the apps' and runtimes'
 * metadata on the drive (per arch and branch: see `unneededRefs` in unneeded.ts); appstream of an arch with no app
 * or runtime left in its collection goes too.
 */
async function unneededOnDrive(
  state: DriveState,
  removed: ReadonlySet<string>,
): Promise<Array<{ collectionId: string; ref: string }>> {
  const { Repo } = await import('../repo/index.js');
  const repo = await Repo.open(state.repo);
  try {
    const remaining = state.refs.filter((r) => !removed.has(`${r.collectionId}\0${r.ref}`));
    const out = await unneededRefs(remaining, async (r) => {
      const c = await repo.readCommit(r.commit).catch(() => null);
      const meta = c ? lookup(c.commit.metadata, KEY.xaMetadata) : undefined;
      return meta?.type === 's' ? (meta.value as string) : null;
    });
    return out.map((r) => ({ collectionId: r.collectionId, ref: r.ref }));
  } finally {
    await repo.close();
  }
}
