/**
 * Commit overrides (`--commit REF=CHECKSUM`, a lockfile's pins): a full-ref key rewrites the catalog before the
 * resolution; an argument key applies where that argument resolves; a key that names no ref of the plan is an error.
 */
import { NotFoundError, UsageError } from '../errors.js';
import type { SourceRef } from './catalog.js';
import type { PlannedRef, ResolveInput } from './resolve-types.js';

const CHECKSUM = /^[0-9a-f]{64}$/;

/** A catalog entry moved to another commit: what the deploy dir says about the old commit no longer applies. */
export function pinnedRef(r: SourceRef, commit: string): SourceRef {
  if (r.commit === commit) return r;
  return {
    ref: r.ref,
    collectionId: r.collectionId,
    commit,
    ...(r.remote ? { remote: r.remote } : {}),
    ...(r.deploySubpaths ? { deploySubpaths: r.deploySubpaths } : {}),
  };
}

export interface CommitOverrides {
  /** The catalog with the full-ref overrides applied. */
  readonly catalog: readonly SourceRef[];
  /** The commit pinned for a ref argument exactly as given (the key counts as used), or undefined. */
  forArg(arg: string): string | undefined;
  /** @throws NotFoundError for a key that names no ref of the plan. */
  checkUsed(refs: readonly PlannedRef[]): void;
}

/** `--commit` overrides: full-ref keys rewrite the catalog; argument keys apply where that argument resolves. */
export function commitOverrides(input: ResolveInput): CommitOverrides {
  const commits = input.commits ?? {};
  for (const [key, c] of Object.entries(commits))
    if (!CHECKSUM.test(c))
      throw new UsageError(`--commit '${key}=${c}': '${c}' is not a commit checksum (64 lower-case hex digits)`, {
        ref: key,
        commit: c,
      });
  const used = new Set<string>();
  const catalog = input.catalog.map((r) => {
    const c = commits[r.ref];
    if (c === undefined) return r;
    used.add(r.ref);
    return pinnedRef(r, c);
  });
  return {
    catalog,
    forArg(arg: string): string | undefined {
      const c = commits[arg];
      if (c !== undefined) used.add(arg);
      return c;
    },
    checkUsed(refs: readonly PlannedRef[]) {
      for (const key of Object.keys(commits)) {
        if (used.has(key) && (refs.some((p) => p.ref === key) || input.requested.includes(key))) continue;
        throw new NotFoundError(
          `--commit '${key}=${commits[key]}': '${key}' is not a ref of this drive ` +
            '(name a ref given on the command line, or one it pulls in, in full)',
          { ref: key },
        );
      }
    },
  };
}
