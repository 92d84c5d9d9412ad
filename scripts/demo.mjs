#!/usr/bin/env node
// `npm run demo`: builds a drive from the bundled example repo (examples/repo, made by
// scripts/make-example-repo.sh with the real flatpak tools) into a temp dir, lists it and verifies it.
// Needs no flatpak or ostree on this machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli/main.cjs');
const drive = process.argv[2] ?? mkdtempSync(path.join(tmpdir(), 'sideload-demo-'));
const run = (args) => {
  console.log(`\n$ sideload ${args.join(' ')}`);
  execFileSync(process.execPath, [cli, ...args], { stdio: 'inherit' });
};

run([
  'create',
  '--repo',
  path.join(root, 'examples/repo'),
  '--gpg-import',
  path.join(root, 'examples/example.gpg'),
  '--no-fsync',
  drive,
  'org.example.App',
]);
run(['list', drive]);
run(['verify', '--gpg-import', path.join(root, 'examples/example.gpg'), drive]);
console.log(
  `\nThe drive is in ${drive}. It explains itself: ${path.join(drive, 'README-sideload.txt')} has the commands ` +
    `that install from it offline,\nwith the remote from ${path.join(drive, 'org.example.Stable.flatpakrepo')}.`,
);
