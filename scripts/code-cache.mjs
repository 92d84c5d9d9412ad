#!/usr/bin/env node
// V8's code cache for the shipped command (src/code-cache.ts), run by scripts/bundle.mjs under the launcher's node
// flags. dist/cli/sideload.cache: the program's top level, compiled, as launch.js compiles it before anything of
// ours has run. dist/cli/openpgp.cache: OpenPGP.js, compiled and run once (its module body only), as sign/gpg.ts
// loads it mid-run. Both after src/cli/heap.ts's afterStartup has put the launcher's V8 flag back to its default, as
// launch.js does first: V8 refuses data made under other flags. A cache V8 refuses costs a run nothing but the
// cache's benefit.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist/cli');
const { writeCodeCache } = await import(path.join(root, 'dist/code-cache.js'));
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`;

const { afterStartup } = await import(path.join(root, 'dist/cli/heap.js'));
afterStartup();
const program = writeCodeCache(path.join(cli, 'sideload.cjs'), path.join(cli, 'sideload.cache'));
const openpgp = createRequire(path.join(root, 'dist/sign/gpg.js')).resolve('openpgp');
const lib = writeCodeCache(openpgp, path.join(cli, 'openpgp.cache'), () => {});
process.stderr.write(`code cache: program ${kib(program)}, openpgp ${kib(lib)}\n`);
