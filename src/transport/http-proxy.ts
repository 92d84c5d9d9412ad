/**
 * How a request reaches its server: directly, or through the proxy the usual variables name (`http_proxy`,
 * `https_proxy`, `no_proxy`): plain HTTP as an absolute-form request to the proxy, HTTPS through a CONNECT tunnel.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { extraCaOptions } from './extra-ca.js';
import { Transient } from './http-outcome.js';

/** Picks the proxy for a URL from the environment, honouring no_proxy; null for a direct connection. */
export function proxyFor(url: URL, env: Readonly<Record<string, string | undefined>>): URL | null {
  const get = (k: string) => env[k] ?? env[k.toUpperCase()];
  const noProxy = (get('no_proxy') ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
  for (const np of noProxy) {
    if (np === '*') return null;
    // Drop a port (`host:8080`, `[::1]:8080`) but not the last group of a bare IPv6 address (`::1`).
    let bare = np.replace(/^\*?\./, '');
    if (bare.startsWith('[')) bare = bare.replace(/^\[([^\]]*)\](:\d+)?$/, '$1');
    else if (bare.split(':').length === 2) bare = bare.replace(/:\d+$/, '');
    if (host === bare || host.endsWith('.' + bare)) return null;
  }
  const p = url.protocol === 'https:' ? get('https_proxy') : get('http_proxy');
  if (!p) return null;
  try {
    return new URL(p.includes('://') ? p : `http://${p}`);
  } catch {
    return null;
  }
}

/**
 * Starts a request for `url` (not yet ended): through `agent` when direct, else through `proxy`. A failed CONNECT
 * surfaces as the request's error, a Transient. HTTPS trusts what extra-ca.ts says (node's own roots unless the
 * command deferred NODE_EXTRA_CA_CERTS).
 */
export function openRequest(
  url: URL,
  method: 'GET' | 'HEAD',
  headers: Readonly<Record<string, string>>,
  agent: http.Agent,
  proxy: URL | null,
): http.ClientRequest {
  const reqOpts: http.RequestOptions = { method, headers, agent };
  if (proxy && url.protocol === 'http:') {
    // Plain HTTP through a proxy: absolute-form request line to the proxy.
    return http.request({
      ...reqOpts,
      host: proxy.hostname,
      port: proxy.port || 80,
      path: url.href,
      headers: { ...headers, host: url.host, ...proxyAuth(proxy) },
      agent: undefined,
    });
  } else if (proxy) {
    // HTTPS through a proxy: a CONNECT tunnel per request (no keep-alive across tunnels). No agent: node uses
    // createConnection only without one (`agent: false` is a fresh agent, which connected to the server directly).
    return https.request(url, {
      ...reqOpts,
      agent: undefined,
      createConnection: (_o, cb) => {
        const connect = http.request({
          host: proxy.hostname,
          port: proxy.port || 80,
          method: 'CONNECT',
          path: `${url.hostname}:${url.port || 443}`,
          headers: proxyAuth(proxy),
        });
        connect.once('connect', (res, socket) => {
          if (res.statusCode !== 200)
            return cb(new Transient(`proxy CONNECT answered ${res.statusCode}`), undefined as never);
          // The server's name checked against its certificate; sent as SNI unless an IP address (RFC 6066).
          const host = url.hostname.replace(/^\[|\]$/g, '');
          cb(null, tls.connect({ socket, host, ...(net.isIP(host) ? {} : { servername: host }), ...extraCaOptions() }));
        });
        connect.once('error', (e) => cb(new Transient(`proxy: ${e.message}`), undefined as never));
        connect.end();
        return undefined as never;
      },
    });
  }
  return url.protocol === 'https:'
    ? https.request(url, { ...reqOpts, ...extraCaOptions() })
    : http.request(url, reqOpts);
}

function proxyAuth(p: URL): Record<string, string> {
  if (!p.username) return {};
  const credentials = `${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`;
  return { 'proxy-authorization': 'Basic ' + Buffer.from(credentials).toString('base64') };
}
