/**
 * Requested arguments that are not flatpak refs: a full ref of the source such as an OS commit
 * (`os/eos/amd64/master`) or ostree's `test-1`, copied as it is, with no runtime or extensions.
 */
import { NotFoundError, UsageError } from '../errors.js';
import type { SourceRef } from './catalog.js';
import { onlyEntry } from './plan-builder.js';
import { isValidOstreeRef, parseRefArg, refMatchesArg, type ParsedRefArg } from './ref.js';
import type { ResolveInput } from './resolve-types.js';

/** The ref ostree-metadata commits go under: sideload writes it, it is never copied. */
export const METADATA_REF_NAME = 'ostree-metadata';

/**
 * A requested argument that names a non-flatpak ref of the source in full (`test-1`, `os/eos/amd64/master`), when
 * it does not also resolve as a partial flatpak ref (which keeps its meaning). null: a flatpak ref argument.
 * @throws NotFoundError for a valid ref name the source lacks that cannot be a flatpak ref either.
 */
export function plainRef(
  arg: string,
  input: ResolveInput,
  hits: readonly SourceRef[],
  arches: readonly string[],
): SourceRef | null {
  if (/^(app|runtime)\//.test(arg)) return null;
  let parsed: ParsedRefArg | null = null;
  try {
    parsed = parseRefArg(arg, input.kinds);
  } catch {
    parsed = null;
  }
  if (hits.length === 0) {
    // A path that is no flatpak ref argument either: say what ostree refuses in it, not what flatpak would.
    if (!parsed && arg.includes('/') && !isValidOstreeRef(arg)) {
      const bad = arg.split('/').find((c) => !/^[A-Za-z0-9_][-._A-Za-z0-9_]*$/.test(c)) ?? '';
      throw new UsageError(
        `invalid ref '${arg}': ` +
          (bad === ''
            ? 'an empty component (two slashes in a row, or one at an end)'
            : `'${bad}' is not a valid ref component (letters, digits, '_', '-' and '.', starting with a letter, digit or '_')`),
        { ref: arg },
      );
    }
    if (parsed || !isValidOstreeRef(arg)) return null; // the flatpak path reports it
    throw new NotFoundError(
      `ref '${arg}' ${input.sourceKind === 'installation' ? 'is not in' : 'was not found in'} the source`,
      { ref: arg },
    );
  }
  const p = parsed;
  if (p && input.catalog.some((r) => refMatchesArg(r.ref, p, arches))) return null;
  return onlyEntry(hits, arg) as SourceRef;
}
