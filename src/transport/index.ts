/**
 * Where a source repo's bytes come from: a local directory (`file://` URL or path) or an HTTP(S) server. Both
 * implement TransportLike (./types.ts), so the archive reader is the same code for either.
 */
import { fileURLToPath } from 'node:url';
import { FsTransport } from './local.js';
import type { TransportLike } from './types.js';
import { HttpTransport, type HttpTransportOptions } from './http.js';

export { HttpTransport, type HttpTransportOptions, type HttpStats } from './http.js';
export { proxyFor } from './http-proxy.js';
export type { ByteSink, Priority, ReadOptions, TransportLike } from './types.js';

/** Opens a transport for an `http(s)://` or `file://` URL, or a plain path. */
export async function openTransport(url: string, opts: HttpTransportOptions = {}): Promise<TransportLike> {
  if (/^https?:\/\//i.test(url)) return new HttpTransport(url, opts);
  if (/^file:\/\//i.test(url)) return new FsTransport(fileURLToPath(url));
  return new FsTransport(url);
}
