/**
 * Redirects: which answers are redirects, and which hops are followed: at most `maxRedirects` (libsoup's default,
 * 20), never from https to http, only to http(s) URLs; every refusal says where the redirects led.
 */
import { NetworkError } from '../errors.js';
import { Redirect } from './http-outcome.js';

export const DEFAULT_MAX_REDIRECTS = 20;
export const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/**
 * Where a redirect answer from `url` leads: its Location resolved against `url`, or a NetworkError (EREDIRECT) for a
 * Location that is no URL. `asked` and `via`: the URL the caller asked for and where redirects led, for the message.
 */
export function redirectOf(
  location: string,
  status: number,
  url: URL,
  asked: URL,
  via: string,
): Redirect | NetworkError {
  try {
    return new Redirect(new URL(location, url), status);
  } catch {
    return new NetworkError(
      `${asked.href}: redirect to an invalid location '${location}'${via}`,
      { url: asked.href },
      'EREDIRECT',
    );
  }
}

/**
 * Whether the hop `from` → `r.to` may be followed, `chain` being every hop so far, this one included (`via`: the
 * same as text). @throws NetworkError (EREDIRECT) past `maxRedirects`, from https to http, or to another scheme.
 */
export function checkRedirect(
  asked: URL,
  from: URL,
  r: Redirect,
  chain: readonly string[],
  via: string,
  maxRedirects: number,
): void {
  if (chain.length > maxRedirects)
    throw new NetworkError(
      `${asked.href}: more than ${maxRedirects} redirects${via}`,
      { url: asked.href, redirects: chain },
      'EREDIRECT',
    );
  if (from.protocol === 'https:' && r.to.protocol !== 'https:')
    throw new NetworkError(
      `${asked.href}: refusing the redirect from https to ${r.to.protocol.replace(/:$/, '')} ` +
        `(${from.href} → ${r.to.href})`,
      { url: asked.href, to: r.to.href },
      'EREDIRECT',
    );
  if (r.to.protocol !== 'http:' && r.to.protocol !== 'https:')
    throw new NetworkError(
      `${asked.href}: redirected to unsupported URL ${r.to.href}`,
      { url: asked.href, to: r.to.href },
      'EREDIRECT',
    );
}
