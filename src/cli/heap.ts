/**
 * V8 heap sizing for the CLI process, imported first by main.ts. V8 lets the old generation grow to a multiple
 * (up to 4x) of what survived the last full GC before collecting again; the copy engine's main thread promotes
 * a steady stream of short-lived job bookkeeping, so that headroom grew with the number of objects copied
 * (~1.25 MiB of peak RSS per 1,000 objects). A growing factor of 1.3 keeps peak memory flat in the object count
 * for a few more full GCs, each a few milliseconds at this heap size (see docs/benchmark.md, scale check).
 *
 * The young generation is set on the launcher line instead (`--max-semi-space-size`): V8 fixes it at start-up.
 * The flag exists in V8 7 to 13 (Node 12 to 24); on a later Node it is left alone rather than risk an
 * "unrecognized flag" line on stderr.
 */
import v8 from 'node:v8';

const major = Number(process.versions.node.split('.')[0]);
if (major >= 20 && major <= 24) v8.setFlagsFromString('--heap-growing-percent=30');
