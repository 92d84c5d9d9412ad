/**
 * The first code of the shipped `sideload` program (scripts/bundle.mjs makes dist/cli/main.cjs of the launcher
 * lines and this module, and bundles the program into dist/cli/sideload.cjs beside it, with V8's code cache for it
 * in dist/cli/sideload.cache: see code-cache.ts). Node compiles a module whole
 * before running any of it: a Ctrl-C while the 1.2 MB program was read and compiled (~50 ms, more on a busy machine)
 * killed node with no word, and a `--json` run printed no document. This module is tiny and imports only the command
 * names (bundled into it): its handler is in place as soon as node runs any of our code, and main.ts takes over
 * from it. What is left before it is node's own start-up (~40-70 ms), where no JavaScript can answer a signal.
 *
 * Until the program takes over, nothing has been done: the interrupt ends the run at once, with exit 130, and with
 * `--json` the one error document a script waits for (the shape reportError in output.ts prints).
 */

import { fileURLToPath } from 'node:url';
import { loadCommonJs } from '../code-cache.js';
import { afterStartup } from './heap.js';
import { commandIn } from './command-names.js';
import { onHangup } from './hangup.js';

// NODE_EXTRA_CA_CERTS: the launcher (main.ts) kept it from node, which parses the file before any JavaScript in every
// process that has it (~40 ms for a system bundle of ~150 certificates), and handed it over under this other name.
// Child processes and worker threads get it back as it was; HTTPS loads the file on its first connection (main.ts
// tells transport/extra-ca.ts what it finds under DEFERRED_EXTRA_CA_CERTS).
const handedOver = process.env['SIDELOAD_EXTRA_CA_CERTS'];
delete process.env['SIDELOAD_EXTRA_CA_CERTS'];
if (handedOver && process.env['NODE_EXTRA_CA_CERTS'] === undefined) {
  process.env['NODE_EXTRA_CA_CERTS'] = handedOver;
  (globalThis as Record<symbol, unknown>)[Symbol.for('sideload.deferredExtraCaCerts')] = handedOver;
}

/** Where main.ts finds this handler to take it off when it installs its own (EARLY_INTERRUPT there). */
const EARLY_INTERRUPT = Symbol.for('sideload.earlyInterrupt');

function onEarlySignal(signal: NodeJS.Signals): void {
  if (signal === 'SIGHUP') onHangup();
  const argv = process.argv.slice(2);
  const message = 'interrupted before the command started; nothing was done';
  if (argv.includes('--json')) {
    const command = commandIn(argv);
    const doc = {
      schemaVersion: 1,
      ...(command ? { command } : {}),
      ok: false,
      error: { code: 'EINTERRUPTED', message, data: {} },
    };
    process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  } else
    try {
      process.stderr.write(`\nsideload: ${message}\n`);
    } catch {
      // the terminal is gone (a hangup): nothing to tell
    }
  process.exit(130);
}

// A hangup (the terminal closed, an ssh session dropped) is an interrupt too, as in main.ts.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onEarlySignal);
(globalThis as Record<symbol, unknown>)[EARLY_INTERRUPT] = onEarlySignal;
// V8's flags back to node's defaults before anything more is compiled (heap.ts), so code caches are taken.
afterStartup();
// The program, bundled beside this file as CommonJS (vm.Script takes V8's code cache; an ES module cannot).
const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
loadCommonJs(here('./sideload.cjs'), here('./sideload.cache'));
