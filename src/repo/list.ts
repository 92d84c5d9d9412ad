/**
 * Loose-object listing and one-object verification, for `verify` and tests: what is in `objects/`, and does each
 * object match its name.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { CorruptError, expectOnly } from '../errors.js';
import { decode } from '../gvariant/index.js';
import { DETACHED_METADATA } from '../ostree/formats.js';
import { parseLooseName, type ObjectType } from '../ostree/object.js';
import { isENOENT } from '../transport/local.js';
import type { ObjectSource } from './source.js';

export interface LooseObject {
  readonly checksum: string;
  readonly type: ObjectType;
  /** Path relative to the repo: `objects/ab/cd….ext`. */
  readonly path: string;
  /**
   * The share of the listing done with this object (0 to 1]: object names are SHA-256 digests, spread evenly over
   * the 256 prefix directories, so the prefixes read so far measure it without counting ahead.
   */
  readonly listed: number;
}

const EXT: Readonly<Record<string, ObjectType>> = {
  file: 'file',
  filez: 'file',
  dirtree: 'dirtree',
  dirmeta: 'dirmeta',
  commit: 'commit',
  commitmeta: 'commitmeta',
  'tombstone-commit': 'tombstone-commit',
};

/** Every loose object in `<repo>/objects/`, in directory order (prefix by prefix). Unknown names are skipped. */
export async function* listObjects(repoPath: string): AsyncGenerator<LooseObject, void, undefined> {
  const root = path.join(repoPath, 'objects');
  let prefixes: string[];
  try {
    prefixes = (await fs.readdir(root)).sort();
  } catch (e) {
    if (isENOENT(e)) return;
    throw e;
  }
  prefixes = prefixes.filter((prefix) => /^[0-9a-f]{2}$/.test(prefix));
  for (const [k, prefix] of prefixes.entries()) {
    const names = await fs.readdir(path.join(root, prefix)).catch(() => [] as string[]);
    names.sort();
    for (const [i, name] of names.entries()) {
      const p = parseLooseName(prefix, name);
      const type = p ? EXT[p.ext] : undefined;
      if (p && type)
        yield {
          checksum: p.checksum,
          type,
          path: `objects/${prefix}/${name}`,
          listed: (k + (i + 1) / names.length) / prefixes.length,
        };
    }
  }
}

/**
 * Reads one object through `objects` and checks it against its name (content: inflated and hashed; metadata:
 * hashed; `.commitmeta`: must be a normal-form `a{sv}`). @throws CorruptError / NotFoundError.
 */
export async function verifyObject(
  objects: ObjectSource,
  checksum: string,
  type: ObjectType,
  signal?: AbortSignal,
  /**
   * The object's bytes as they are read and checked (a large content object streams: many calls; any other comes
   * whole: one); a negative count takes back what a stream that starts over had passed. For a progress display.
   */
  onBytes?: (n: number) => void,
): Promise<void> {
  switch (type) {
    case 'file': {
      const o = await objects.readContent(checksum, signal ? { signal } : {});
      if (o.data) onBytes?.(o.data.length);
      else {
        let passed = 0;
        await o.pipe(
          {
            write(c) {
              passed += c.length;
              onBytes?.(c.length);
            },
            reset() {
              onBytes?.(-passed);
              passed = 0;
            },
          },
          signal,
        );
      }
      return;
    }
    case 'commitmeta': {
      const b = await objects.readCommitMeta(checksum);
      if (!b) return;
      onBytes?.(b.length);
      try {
        decode(DETACHED_METADATA, b);
      } catch (e) {
        const inner = expectOnly(e, CorruptError);
        throw new CorruptError(`${checksum}.commitmeta: ${inner.message}`, { checksum, type }, 'ECORRUPT', {
          cause: e,
        });
      }
      return;
    }
    case 'tombstone-commit':
      return;
    default: {
      // Read (and so hashed) whether or not anyone counts the bytes: `onBytes?.(…)` would skip its argument.
      const b = await objects.readMetadata(checksum, type);
      onBytes?.(b.length);
    }
  }
}
