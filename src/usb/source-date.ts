/**
 * SOURCE_DATE_EPOCH (reproducible-builds.org): the time a run writes into the summary's `last-modified` and the
 * ostree-metadata commits, instead of the clock. A value that is not whole seconds in the range a date can show
 * (1970 to the end of the year 9999) is refused, before anything is written: a typo must not silently become the
 * current time (media that is not reproducible) or a timestamp past what clients can show (a drive `list` and
 * `verify` cannot read).
 */
import { UsageError } from '../errors.js';

/** The last second of the year 9999 (UTC): the largest time a JavaScript Date, and so every reader, can show. */
export const MAX_SOURCE_DATE_EPOCH = 253402300799n;

/**
 * SOURCE_DATE_EPOCH from `env` as seconds, or null when it is unset or empty (the clock then decides). Throws a
 * UsageError naming the variable and its value when it is anything but digits for 0 to MAX_SOURCE_DATE_EPOCH.
 */
export function sourceDateEpoch(env: Readonly<Record<string, string | undefined>> = process.env): bigint | null {
  const v = env['SOURCE_DATE_EPOCH'];
  if (v === undefined || v === '') return null;
  if (/^\d{1,20}$/.test(v) && BigInt(v) <= MAX_SOURCE_DATE_EPOCH) return BigInt(v);
  throw new UsageError(
    `SOURCE_DATE_EPOCH '${v}' is not a time sideload can write: set it to whole seconds since 1970 (0 to ` +
      `${MAX_SOURCE_DATE_EPOCH}, the end of the year 9999), or unset it to use the current time`,
    { SOURCE_DATE_EPOCH: v },
  );
}
