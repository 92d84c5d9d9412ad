/**
 * The README's "Error codes", "Warnings" and "Verify findings" tables are the closed lists of src/errors.ts,
 * src/warnings.ts and src/usb/findings.ts, row for row (code, exit code, meaning): the code documents each code once, and the README must not drift from it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { expect, it } from 'vitest';
import { ERROR_CODES } from '../../src/errors.js';
import { WARNING_CODES } from '../../src/warnings.js';
import { FINDING_CODES } from '../../src/usb/findings.js';
import { projectRoot } from '../helpers/shared.js';

/** The rows of the first table after `heading`, as their cells. */
async function table(heading: string): Promise<string[][]> {
  const readme = await fs.readFile(path.join(projectRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  expect(at, heading).toBeGreaterThan(0);
  const lines = readme.slice(at).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const rows = lines.slice(
    start + 2,
    lines.findIndex((l, i) => i > start && !l.startsWith('|')),
  );
  return rows.map((r) =>
    r
      .slice(1, -1)
      .split(' | ')
      .map((c) => c.trim()),
  );
}

it("README's error code table is ERROR_CODES, plus one row for the system errors", async () => {
  const rows = await table('#### Error codes');
  const last = rows.pop();
  expect(last?.slice(0, 2)).toEqual(['`ENOENT`, `EISDIR`, …', '1']);
  expect(rows).toEqual(ERROR_CODES.map((c) => [`\`${c.code}\``, String(c.exit), c.doc]));
});

it("README's warning table is WARNING_CODES", async () => {
  const rows = await table('#### Warnings and `--strict`');
  expect(rows).toEqual(WARNING_CODES.map((c) => [`\`${c.code}\``, c.doc]));
});

it("README's verify findings table is FINDING_CODES", async () => {
  const rows = await table('#### Verify findings');
  expect(rows).toEqual(FINDING_CODES.map((c) => [`\`${c.code}\``, c.doc]));
});
