/**
 * V8 heap sizing for the CLI process, and keeping V8's code caches usable while doing it.
 *
 * The young generation is set on the launcher line (`--max-semi-space-size=2`, main.ts): V8 sizes an isolate's young
 * generation once, when it makes the isolate, and a main thread with a 16 MiB semi-space grew the copy's peak RSS to
 * 138 MiB (docs/benchmark.md, round 9).
 *
 * V8 takes code-cache data only when it was made under the same flags (a hash over every flag that is not at its
 * default), and node's built-in modules carry a cache made under none. With the launcher's flag still set, each
 * built-in module a run loaded after start-up (crypto, stream, zlib and ~30 more in a re-run with nothing new) was
 * compiled from its source: ~15 ms against ~5 for those five alone. So `afterStartup` puts the flag back to its
 * default once node has made the main isolate: the young generation stays as made (2 MiB semi-spaces), the
 * worker threads get theirs from their `resourceLimits` (repo/worker-pool.ts), and every cache matches again.
 *
 * `forCopy` then tunes V8 for a run that copies objects. The old generation's growing factor: V8 lets the old
 * generation grow to a multiple (up to 4x) of what survived the last full GC before collecting again, and the copy
 * engine's main thread promotes a steady stream of short-lived job bookkeeping, so that headroom grew with the
 * number of objects copied (~1.25 MiB of peak RSS per 1,000 objects). A factor of 1.3 keeps peak memory flat in the
 * object count for a few more full GCs, each a few milliseconds at this heap size (docs/benchmark.md, scale check).
 * And from local sources only, the interrupt budget (how much a function runs before V8 considers optimizing it):
 * there the JavaScript is bookkeeping around libdeflate, SHA-256 and the file system, and TurboFan compiling the copy's
 * large async functions, some twice after a deopt, was ~8% of a run's CPU. Optimized later (~15x the default
 * budget), fewer functions get compiled: 384 MiB installation, 6 alternated pairs, wall 2.73 -> 2.60 s, CPU
 * 4.65 -> 4.39 s. Over HTTP the main thread's JavaScript (the HTTP client, the summaries) is the work: the same
 * budget measured 1.03x the wall time there (bench --ab, 5 pairs), within what two identical builds measured (1.04x),
 * so no gain was shown, and it stays at V8's default.
 * Both are set only then, since they change the flags' hash: a module loaded after them compiles from source.
 *
 * The flags exist in V8 7 to 13 (Node 12 to 24); on a later Node they are left alone rather than risk an
 * "unrecognized flag" line on stderr.
 */
import v8 from 'node:v8';

const major = Number(process.versions.node.split('.')[0]);
const known = major >= 20 && major <= 24;

/** Called before the program is loaded (launch.ts) and by the build before it makes the code caches. */
export function afterStartup(): void {
  if (known) v8.setFlagsFromString('--max-semi-space-size=0');
}

let tuned = false;

/**
 * Called when a run has copied its first object (run-state.ts), after its copy workers have loaded; once. `local`:
 * every source of the run is local (an installation or a repo).
 */
export function forCopy(local: boolean): void {
  if (tuned || !known) return;
  tuned = true;
  v8.setFlagsFromString('--heap-growing-percent=30');
  if (local) v8.setFlagsFromString('--interrupt-budget=1000000');
}
