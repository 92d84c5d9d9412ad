/**
 * The JS value model of GVariant, one JS shape per type class:
 *   b → boolean; y n q i u h d → number; x t → bigint; s o g → string;
 *   ay → Uint8Array; every other array → JS array; tuples and dict entries → JS arrays of their members;
 *   v → Variant; mT → null (Nothing) or the value (Just), wrapped in `Just` only when T is itself a maybe.
 */

/** A value of type `v`: a child value with its own type string. */
export class Variant {
  constructor(
    /** The child's type string, e.g. `s` or `a{sv}`. */
    readonly type: string,
    readonly value: GValue,
  ) {}
}

/** `Just` of a nested maybe (only for types `mmT`), so that Just(Nothing) differs from Nothing. */
export class Just {
  constructor(readonly value: GValue) {}
}

export type GValue = boolean | number | bigint | string | Uint8Array | Variant | Just | null | readonly GValue[];

/** An `a{sv}` as decoded: entries in their serialized order. */
export type VarDict = Array<[string, Variant]>;

/** Shorthand constructors for variants of common types. */
export const v = {
  s: (x: string) => new Variant('s', x),
  b: (x: boolean) => new Variant('b', x),
  u: (x: number) => new Variant('u', x),
  i: (x: number) => new Variant('i', x),
  t: (x: bigint) => new Variant('t', x),
  ay: (x: Uint8Array) => new Variant('ay', x),
  as: (x: readonly string[]) => new Variant('as', x),
  aay: (x: readonly Uint8Array[]) => new Variant('aay', x),
} as const;

/** Looks a key up in an `a{sv}` (linear, as GLib's lookup does). */
export function lookup(dict: readonly (readonly [string, Variant])[], key: string): Variant | undefined {
  for (const [k, val] of dict) if (k === key) return val;
  return undefined;
}

/** Looks a key up and checks the variant's type; undefined when absent or of another type. */
export function lookupTyped<T extends GValue>(
  dict: readonly (readonly [string, Variant])[],
  key: string,
  type: string,
): T | undefined {
  const hit = lookup(dict, key);
  return hit && hit.type === type ? (hit.value as T) : undefined;
}
