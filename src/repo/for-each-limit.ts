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

/**
 * `fn` over the items of an async iterable, at most `limit` at once: the next item is taken when a slot is free, and
 * none once `stop()` says so or an `fn` has failed. Every `fn` started settles before this returns (none is left to
 * reject unheard). @throws the first error, of an `fn` or of the iteration itself.
 */
export async function forEachLimitOf<T>(
  items: AsyncIterable<T>,
  limit: number,
  fn: (item: T) => Promise<void>,
  stop: () => boolean = () => false,
): Promise<void> {
  const running = new Set<Promise<void>>();
  let failed: { error: unknown } | null = null;
  try {
    for await (const item of items) {
      if (failed || stop()) break;
      const p: Promise<void> = fn(item)
        .catch((error: unknown) => void (failed ??= { error }))
        .finally(() => running.delete(p));
      running.add(p);
      if (running.size >= limit) await Promise.race(running);
    }
  } catch (error) {
    failed ??= { error };
  }
  await Promise.all(running);
  if (failed) throw (failed as { error: unknown }).error;
}
