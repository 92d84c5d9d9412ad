/** Paths to ../shared (specs and vectors), which CI places beside the checkout. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { describe, it } from 'vitest';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(projectRoot, '../shared');

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}

/**
 * A suite that reads a file under ../shared: it runs when the file is there; outside CI it is skipped (a clone with
 * no ../shared beside it); with CI=true a missing file fails the run, as a missing ostree does (describeOstree).
 */
export function describeWithShared(rel: string, name: string, fn: () => void): void {
  const file = path.join(sharedDir, rel);
  if (existsSync(file)) describe(name, fn);
  else if (process.env['CI'] === 'true')
    describe(name, () => {
      it(`needs ${file}`, () => {
        throw new Error(`${file} is missing, and CI=true: CI places ../shared beside the checkout`);
      });
    });
  else describe.skip(`${name} (${file} not found: clone beside ../shared to run it)`, fn);
}
