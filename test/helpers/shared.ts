/** Paths to ../shared (specs and vectors), which CI places beside the checkout. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(projectRoot, '../shared');

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
