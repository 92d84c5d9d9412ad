/**
 * Flatpak ref names (pure): `app|runtime/ID/ARCH/BRANCH`, the partial ref arguments flatpak takes on its command
 * line, ID and ref syntax checks, and "did you mean" suggestions for a misspelt ID.
 */
import { UsageError } from '../errors.js';

export type RefKind = 'app' | 'runtime';

export interface ParsedRefArg {
  readonly kinds: readonly RefKind[];
  readonly id: string;
  readonly arch?: string;
  readonly branch?: string;
}

/** flatpak_split_partial_ref_arg: `ID`, `ID//BRANCH`, `ID/ARCH/BRANCH`, `app/ID/ARCH/BRANCH` …; validates each part. */
export function parseRefArg(arg: string, kinds: readonly RefKind[] = ['app', 'runtime']): ParsedRefArg {
  let rest = arg;
  let k = kinds;
  const m = /^(app|runtime)\//.exec(arg);
  if (m) {
    k = [m[1] as RefKind];
    rest = arg.slice(m[0].length);
  }
  const parts = rest.split('/');
  if (parts.length > 3) throw new UsageError(`invalid ref '${arg}': too many '/'`, { ref: arg });
  const [id = '', arch = '', branch = ''] = parts;
  if (!isValidId(id))
    throw new UsageError(`invalid ref '${arg}': '${id}' is not a valid application or runtime ID`, { ref: arg });
  if (arch && !/^[A-Za-z0-9_-]+$/.test(arch))
    throw new UsageError(`invalid ref '${arg}': invalid arch '${arch}'`, { ref: arg });
  if (branch && !/^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/.test(branch))
    throw new UsageError(`invalid ref '${arg}': invalid branch '${branch}'`, { ref: arg });
  return { kinds: k, id, ...(arch ? { arch } : {}), ...(branch ? { branch } : {}) };
}

/** flatpak_is_valid_name: ≥ 3 dot-separated elements of [A-Za-z0-9_-], none starting with a digit, ≤ 255 bytes. */
export function isValidId(id: string): boolean {
  if (id.length === 0 || id.length > 255) return false;
  const parts = id.split('.');
  return parts.length >= 3 && parts.every((p) => /^[A-Za-z_-][A-Za-z0-9_-]*$/.test(p));
}

export interface RefParts {
  kind: RefKind;
  id: string;
  arch: string;
  branch: string;
}

export function splitRef(ref: string): RefParts | null {
  const p = ref.split('/');
  if (p.length !== 4 || (p[0] !== 'app' && p[0] !== 'runtime')) return null;
  return { kind: p[0] as RefKind, id: p[1] as string, arch: p[2] as string, branch: p[3] as string };
}

/**
 * Whether the full ref `ref` is one the parsed argument `p` names: its kind, ID and branch (when given), and its
 * arch, or for an argument that names none, one of `arches` (undefined: any arch).
 */
export function refMatchesArg(ref: string, p: ParsedRefArg, arches?: readonly string[]): boolean {
  const s = splitRef(ref);
  return (
    s !== null &&
    p.kinds.includes(s.kind) &&
    s.id === p.id &&
    (p.arch !== undefined ? s.arch === p.arch : arches === undefined || arches.includes(s.arch)) &&
    (p.branch === undefined || s.branch === p.branch)
  );
}

/** ostree's ref name syntax (ostree_validate_rev): `/`-separated segments of [A-Za-z0-9_][-._A-Za-z0-9_]*. */
export function isValidOstreeRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= 1024 && ref.split('/').every((s) => /^[A-Za-z0-9_][-._A-Za-z0-9_]*$/.test(s));
}

/**
 * IDs in the source close to a misspelt one: the same letters in another case, or within a small edit distance
 * (a third of the length, at most 3), nearest first; at most three.
 */
export function didYouMean(id: string, ids: readonly string[]): string[] {
  const lower = id.toLowerCase();
  const max = Math.min(3, Math.max(1, Math.floor(id.length / 3)));
  const scored = [...new Set(ids)]
    .map((c) => ({ c, d: c.toLowerCase() === lower ? 0 : editDistance(lower, c.toLowerCase()) }))
    .filter((x) => x.d <= max);
  return scored
    .sort((a, b) => a.d - b.d || (a.c < b.c ? -1 : 1))
    .slice(0, 3)
    .map((x) => x.c);
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++)
      cur[j] = Math.min(
        (prev[j] as number) + 1,
        (cur[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    prev = cur;
  }
  return prev[b.length] as number;
}
