/**
 * `Retry-After` (RFC 9110 §10.2.3): how long a server answering 503 or 429 asks the client to wait, as delay-seconds
 * or an HTTP-date. The bytes are the server's, so they are read strictly: anything but those two forms is ignored
 * (the transport keeps its own backoff), a huge number is clamped, a date already past means "now". http.ts caps
 * the wait (`maxRetryAfterMs`, the request's `timeoutMs`) and the abort signal still ends it at once.
 */

/** Longest wait a header can state here (about 31 years): a bigger number is clamped to it. */
const MAX_SECONDS = 1e9;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const M = MONTHS.join('|');
const TIME = String.raw`(\d\d):(\d\d):(\d\d)`;
/**
 * IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, and the obsolete forms a recipient must still accept: RFC 850
 * `Sunday, 06-Nov-94 08:49:37 GMT` and asctime `Sun Nov  6 08:49:37 1994`.
 */
const IMF = new RegExp(String.raw`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) (${M}) (\d{4}) ${TIME} GMT$`);
const RFC850 = new RegExp(
  String.raw`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-(${M})-(\d\d) ${TIME} GMT$`,
);
const ASCTIME = new RegExp(String.raw`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (${M}) ( \d|\d\d) ${TIME} (\d{4})$`);

/** An HTTP-date (the three forms HTTP allows, nothing `Date.parse` would guess at) as ms since the epoch, or null. */
export function parseHttpDate(text: string): number | null {
  const s = text.trim();
  /** [day, month, year, hour, minute, second] as written. */
  let f: string[];
  let m: RegExpExecArray | null;
  if ((m = IMF.exec(s))) f = m.slice(1);
  else if ((m = RFC850.exec(s))) {
    const yy = Number(m[3]);
    f = [m[1], m[2], String(yy < 70 ? 2000 + yy : 1900 + yy), ...m.slice(4)] as string[];
  } else if ((m = ASCTIME.exec(s))) f = [m[2], m[1], m[6], m[3], m[4], m[5]] as string[];
  else return null;
  const [day, year, h, mi, se] = [f[0], f[2], f[3], f[4], f[5]].map(Number) as [number, number, number, number, number];
  if (day < 1 || day > 31 || h > 23 || mi > 59 || se > 60) return null;
  const t = Date.UTC(year, MONTHS.indexOf(f[1] as string), day, h, mi, se);
  return Number.isFinite(t) ? t : null;
}

/**
 * The wait a `Retry-After` value asks for, in ms: delay-seconds, or an HTTP-date measured against the answer's own
 * `Date` header when it has a valid one (so neither side's wrong clock matters), else against `now`. null: absent
 * or not a valid value (garbage, a negative or fractional number, a date in another shape).
 */
export function parseRetryAfter(value: string | undefined, date: string | undefined, now = Date.now()): number | null {
  if (value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(v.length > 10 ? MAX_SECONDS : Number(v), MAX_SECONDS) * 1000;
  const at = parseHttpDate(v);
  if (at === null) return null;
  const from = (date !== undefined ? parseHttpDate(date) : null) ?? now;
  return Math.min(Math.max(0, at - from), MAX_SECONDS * 1000);
}
