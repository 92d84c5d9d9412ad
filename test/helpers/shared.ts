/** Paths to ../shared (specs and vectors), which CI places beside the checkout. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = path.resolve(projectRoot, '../shared');

/**
 * `create`'s arguments for the bundled example app onto `drive`: the example repo under `examples` (default: this
 * checkout's) and the key it is signed with.
 */
export function exampleCreateArgs(drive: string, examples = path.join(projectRoot, 'examples')): string[] {
  return [
    '--repo',
    path.join(examples, 'repo'),
    '--gpg-import',
    path.join(examples, 'example.gpg'),
    drive,
    'org.example.App',
  ];
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
