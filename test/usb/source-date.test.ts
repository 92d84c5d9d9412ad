/**
 * SOURCE_DATE_EPOCH: whole seconds from 1970 to the end of the year 9999, or a usage error naming the variable and
 * its value, raised before a run writes anything (it used to fall back to the clock, or wrap in the summary's u64).
 */
import fs from 'node:fs/promises';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { MAX_SOURCE_DATE_EPOCH, sourceDateEpoch } from '../../src/usb/source-date.js';
import { createExampleDrive } from '../helpers/example-drive.js';
import { tempDir } from '../helpers/tmp.js';

describe('sourceDateEpoch', () => {
  it('reads whole seconds in range; unset or empty is null (the clock)', () => {
    expect(sourceDateEpoch({})).toBeNull();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '' })).toBeNull();
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '0' })).toBe(0n);
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '1700000000' })).toBe(1700000000n);
    expect(sourceDateEpoch({ SOURCE_DATE_EPOCH: '253402300799' })).toBe(MAX_SOURCE_DATE_EPOCH);
    expect(new Date(Number(MAX_SOURCE_DATE_EPOCH) * 1000).toISOString()).toBe('9999-12-31T23:59:59.000Z');
  });

  it.each(['abc', '-5', '1.5', ' 1700000000', '1700000000 ', '+5', '0x10', '253402300800', '9000000000000'])(
    "'%s' is a usage error naming SOURCE_DATE_EPOCH and the value",
    (v) => {
      let err: unknown;
      try {
        sourceDateEpoch({ SOURCE_DATE_EPOCH: v });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UsageError);
      expect((err as UsageError).exitCode).toBe(2);
      expect((err as UsageError).message).toContain(`SOURCE_DATE_EPOCH '${v}' is not a time sideload can write`);
      expect((err as UsageError).data).toEqual({ SOURCE_DATE_EPOCH: v });
    },
  );

  it('does not wrap a value past 2^64 (99999999999999999999)', () => {
    expect(() => sourceDateEpoch({ SOURCE_DATE_EPOCH: '99999999999999999999' })).toThrow(UsageError);
  });
});

describe('a run with a bad SOURCE_DATE_EPOCH', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it.each([['9000000000000'], ['abc']])('%s: refused before anything is written, dry run or not', async (v) => {
    vi.stubEnv('SOURCE_DATE_EPOCH', v);
    for (const dryRun of [true, false]) {
      const drive = await tempDir('sideload-sde-');
      await expect(createExampleDrive(drive, { dryRun })).rejects.toThrow(`SOURCE_DATE_EPOCH '${v}'`);
      expect(await fs.readdir(drive)).toEqual([]);
    }
  });

  it('a valid one is the summary time', async () => {
    vi.stubEnv('SOURCE_DATE_EPOCH', '1700000000');
    const r = await createExampleDrive(await tempDir('sideload-sde-ok-'));
    expect(r.summary?.lastModified).toBe(1700000000n);
  });
});
