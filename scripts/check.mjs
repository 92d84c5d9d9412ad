#!/usr/bin/env node
// `npm test`'s static checks, run side by side (each is mostly one thread; the three in a row took 24 s on the 2-core
// CI machine, side by side ~13 s): the typecheck of src/ and test/, eslint, and prettier --check. Each tool's output
// is printed whole, in this order, once all have finished; exits 1 if any of them failed.
import { spawn } from 'node:child_process';

const CHECKS = [
  ['typecheck', 'tsc', ['-p', 'tsconfig.json', '--noEmit']],
  ['eslint', 'eslint', ['.']],
  ['prettier', 'prettier', ['--check', '.', '--log-level', 'warn']],
];

function run([name, bin, args]) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(`node_modules/.bin/${bin}`, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('error', (e) => resolve({ name, code: 127, out: `${e.message}\n`, ms: Date.now() - started }));
    child.on('close', (code) => resolve({ name, code: code ?? 1, out, ms: Date.now() - started }));
  });
}

const results = await Promise.all(CHECKS.map(run));
for (const r of results) {
  if (r.out.trim()) process.stdout.write(r.out.endsWith('\n') ? r.out : `${r.out}\n`);
  process.stdout.write(`${r.code === 0 ? 'ok' : 'FAILED'}: ${r.name} (${(r.ms / 1000).toFixed(1)} s)\n`);
}
process.exit(results.every((r) => r.code === 0) ? 0 : 1);
