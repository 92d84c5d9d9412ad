/**
 * A local source's remotes read at their URLs: an installation or a repo names remotes (URL, collection ID, keys);
 * when it holds no upstream summary for one (flatpak caches none for a `file://` remote) or only an old appstream
 * commit, the remote itself is read, as `flatpak create-usb` fetches the appstream before copying. `file://` URLs
 * are read directly; `http(s)://` over the network unless offline. Whatever cannot be had is said in a warning.
 * Everything read is checked like any remote source: the summary's signature with the remote's keys.
 */
import { CorruptError, expectFailure, SignatureError } from '../errors.js';
import { Warner, type Warning, type WarningCode } from '../warnings.js';
import type { Source, TrustedKeys } from './source.js';

/** A remote as a local source configures it. */
export interface RemoteAtUrl {
  readonly name: string;
  readonly url: string;
  readonly collectionId?: string;
  readonly keys: TrustedKeys;
  /** The remote's gpg-verify: a signed summary is required when true. */
  readonly gpgVerify: boolean;
}

export interface RemoteFetchOptions {
  /** Never use the network (file:// URLs are still read). */
  readonly offline?: boolean;
  readonly signal?: AbortSignal;
  /** HTTP tuning (SIDELOAD_HTTP_* from the environment). */
  readonly transport?: Record<string, unknown>;
  /** The local source, for messages (`the user installation`). */
  readonly where: string;
}

/** Reading the remotes a local source names (installation-source.ts, repo-source.ts). */
export type RemoteReadOptions = Omit<RemoteFetchOptions, 'where'>;

/** Opens each remote at most once per run; failures become warnings and a null. */
export class RemoteFetcher {
  private readonly opened = new Map<string, Promise<Source | null>>();
  private readonly notes = new Warner();

  constructor(private readonly opts: RemoteFetchOptions) {}

  /** The remote read as a source (summary checked), or null when it is not readable (see takeWarnings). */
  open(r: RemoteAtUrl): Promise<Source | null> {
    let p = this.opened.get(r.name);
    if (!p) {
      p = this.openOnce(r);
      this.opened.set(r.name, p);
    }
    return p;
  }

  private async openOnce(r: RemoteAtUrl): Promise<Source | null> {
    const network = /^https?:\/\//i.test(r.url);
    if (!network && !/^file:\/\//i.test(r.url)) {
      this.note(
        'remote-url-unsupported',
        r,
        `remote '${r.name}' has URL '${r.url}', which sideload cannot read (only http(s):// and file://)`,
      );
      return null;
    }
    if (network && this.opts.offline) {
      this.note(
        'remote-offline',
        r,
        `remote '${r.name}' (${r.url}) was not read (--offline): ` +
          `the drive gets the upstream summary and appstream ${this.opts.where} holds, if any`,
      );
      return null;
    }
    try {
      const { openRemoteSource } = await import('./remote-source.js');
      const src = await openRemoteSource({
        url: r.url,
        ...(r.collectionId ? { collectionId: r.collectionId } : {}),
        trusted: r.keys,
        gpgVerify: r.gpgVerify,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        // A remote that cannot be reached should not stall the run for minutes: a few quick retries.
        transport: { retries: 2, backoffMs: 100, ...(this.opts.transport ?? {}) },
      });
      // Every subsummary now, while a missing one is still an outage of this remote (the warning below), not a
      // failure of the run: its appstream and upstream summary copy read them all.
      await src.listRefs().catch(async (e: unknown) => {
        await src.close().catch(() => {});
        throw e;
      });
      return src;
    } catch (e) {
      if (this.opts.signal?.aborted) throw e;
      // A summary that does not verify (or is malformed) is not an outage: refuse it, as for any remote source.
      if (e instanceof SignatureError || e instanceof CorruptError) throw e;
      // An outage (a network or system error, a remote without a summary) is; a bug of ours is not.
      const err = expectFailure(e);
      this.note(
        'remote-unreachable',
        r,
        `remote '${r.name}' (${r.url}) could not be read (${err.message}); ` +
          `the drive gets the upstream summary and appstream ${this.opts.where} holds, if any`,
      );
      return null;
    }
  }

  private note(code: WarningCode, r: RemoteAtUrl, message: string): void {
    this.notes.warn(code, message, { remote: r.name, url: r.url });
  }

  /** Warnings collected since the last call. */
  takeWarnings(): Warning[] {
    return this.notes.take();
  }

  async close(): Promise<void> {
    for (const p of this.opened.values()) await (await p.catch(() => null))?.close().catch(() => {});
  }
}
