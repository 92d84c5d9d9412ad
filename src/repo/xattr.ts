/**
 * Extended attributes, which Node cannot read. Only the legacy `bare-user` mode (its `user.ostreemeta` xattr) and
 * the rare `bare` mode (real xattrs are part of the checksum) need them. We use `@napi-rs/xattr`, a native module
 * with prebuilt binaries for Linux (glibc and musl, x86_64/aarch64/armv7), macOS and FreeBSD; it works on the path
 * itself, never following a symlink (lgetxattr/llistxattr), and lists names in the kernel's order. It is loaded
 * only when a repo needs it: where no binary exists the caller gets an UnsupportedError naming the repo.
 *
 * (This replaced a long-lived python3 helper process whose close() waited for an exit event on handles it had
 * unref'd: Node ran out of work and the CLI quit with exit 0 and no output.)
 */
import { createRequire } from 'node:module';
import { FailureError, UnsupportedError } from '../errors.js';

export interface XattrReader {
  /** The value of xattr `name` of `path` (not following symlinks), or null if it has none. */
  get(path: string, name: string): Promise<Uint8Array | null>;
  /** Every xattr of `path` (not following symlinks), in the kernel's listxattr order (what ostree 2022.7 hashes). */
  list(path: string): Promise<Array<[string, Uint8Array]>>;
  close(): Promise<void>;
}

interface NapiXattr {
  getAttribute(path: string, name: string): Promise<Buffer | null>;
  listAttributes(path: string): Promise<string[]>;
}

/** The module, or why it could not be loaded. */
let native: NapiXattr | { readonly failed: string } | null = null;

function loadNative(): NapiXattr | { readonly failed: string } {
  if (native === null) {
    try {
      native = createRequire(import.meta.url)('@napi-rs/xattr') as NapiXattr;
    } catch (e) {
      native = { failed: String((e as Error | null)?.message ?? e) };
    }
  }
  return native;
}

/** The module's error with the path and an errno-like code: ENOENT, ENOTSUP (callers test for both) or EXATTR. */
function wrap(path: string, e: unknown): FailureError {
  const message = String((e as Error | null)?.message ?? e);
  const code =
    (e as NodeJS.ErrnoException | null)?.code === 'ENOENT' || /No such file/i.test(message)
      ? 'ENOENT'
      : /not supported/i.test(message)
        ? 'ENOTSUP'
        : 'EXATTR';
  return new FailureError(`cannot read xattrs of ${path}: ${message}`, { path }, code, { cause: e });
}

class NativeXattrReader implements XattrReader {
  constructor(private readonly x: NapiXattr) {}

  async get(path: string, name: string): Promise<Uint8Array | null> {
    try {
      const v = await this.x.getAttribute(path, name);
      return v === null ? null : new Uint8Array(v);
    } catch (e) {
      throw wrap(path, e);
    }
  }

  async list(path: string): Promise<Array<[string, Uint8Array]>> {
    try {
      const out: Array<[string, Uint8Array]> = [];
      for (const n of await this.x.listAttributes(path)) {
        const v = await this.x.getAttribute(path, n);
        if (v !== null) out.push([n, new Uint8Array(v)]); // removed between list and get: gone
      }
      return out;
    } catch (e) {
      throw wrap(path, e);
    }
  }

  /** Nothing to release: no process, no handle. */
  async close(): Promise<void> {}
}

/** Opens the xattr reader. @throws UnsupportedError when the native module has no binary here (naming `why`). */
export async function openXattrReader(why: string): Promise<XattrReader> {
  const x = loadNative();
  if ('failed' in x)
    throw new UnsupportedError(
      `${why} needs extended attributes, which sideload reads through the native module @napi-rs/xattr, ` +
        `and it could not be loaded on ${process.platform}-${process.arch} (${x.failed.split('\n')[0]})`,
      { reason: 'xattr-module' },
    );
  return new NativeXattrReader(x);
}
