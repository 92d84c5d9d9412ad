/** Bounded concurrency over a list. */

/** Runs `fn` over `items` with at most `limit` at once; the first error stops new work and is thrown. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (failed === null && next < items.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== null) throw failed;
}

/**
 * `fn` over `items` with at most `limit` at once, the results in the items' order. Every item runs; when some
 * fail, the error of the first in order is thrown, as a loop over them would have thrown it.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const done: Array<{ ok: R } | { err: unknown }> = [];
  await forEachLimit([...items.keys()], limit, async (i) => {
    done[i] = await fn(items[i] as T, i).then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err }),
    );
  });
  return done.map((r) => {
    if ('err' in r) throw r.err;
    return r.ok;
  });
}
