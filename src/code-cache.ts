/**
 * Loading a CommonJS file with V8's code cache: the compiled code V8 keeps for a script, written beside it by the
 * build (scripts/code-cache.mjs), so that a run deserializes the program instead of parsing and compiling 1.3 MB
 * of JavaScript. Node 20 has no compile cache of its own (module.enableCompileCache is Node 22).
 *
 * The cache file is `SLCC2\n`, the SHA-256 of the file it was made from (its bytes), then V8's data. A cache is used
 * only for the exact source it was made from: V8 itself compares no more than the source's length, and a file edited
 * in place would otherwise run the old code. V8 refuses data from another V8 version or made under other V8 flags
 * (`cachedDataRejected`); then, as with no cache at all, the source is compiled as node would.
 */
import { isAscii } from 'node:buffer';
import type { createHash as CreateHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

const MAGIC = Buffer.from('SLCC2\n');
const DIGEST_BYTES = 32;

/** How the last load used its cache (SIDELOAD_DEBUG=code-cache prints it). */
export type CacheUse = 'accepted' | 'rejected' | 'stale' | 'none';

/** Node's CommonJS wrapper: the same text node compiles for a required file. */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;

/** The source without a leading `#!` line (node strips it from a required file too). */
const body = (source: string): string => (source.startsWith('#!') ? source.replace(/^#!.*/, '') : source);

/**
 * node:crypto, loaded on first use rather than imported: the launcher (cli/launch.ts) is bundled with this module,
 * and a bundle's imports run before any of its code, so before cli/heap.ts's afterStartup has made V8's flags match
 * node's own code cache again (crypto compiled from its source: ~10 ms a start).
 */
let createHash: typeof CreateHash | undefined;

/**
 * A script's text and the SHA-256 of its bytes. Read as bytes and hashed as bytes: hashing the decoded text (UTF-8
 * again, inside the hash) and decoding it as UTF-8 took ~5.8 ms for the 1.3 MB program, against ~3 ms this way. The
 * bundle is ASCII (scripts/bundle.mjs), and ASCII decodes as Latin-1, the faster decoder, to the same string. The
 * bytes are let go once hashed: kept (for writeLoadedCache) they were 1.7 MiB outside V8's heap for the process's
 * life, and a first run's peak RSS was 108 MiB, or 114-117 in about half the runs, against 105-106 without them.
 */
function readScript(file: string): { source: string; digest: () => Buffer } {
  let bytes: Buffer | null = fs.readFileSync(file);
  const text = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  let sum: Buffer | null = null;
  return {
    source: body(text),
    digest: () => {
      createHash ??= (createRequire(file)('node:crypto') as typeof import('node:crypto')).createHash;
      sum ??= createHash('sha256')
        .update(bytes as Buffer)
        .digest();
      bytes = null;
      return sum;
    },
  };
}

function compile(file: string, source: string, cachedData?: Buffer): vm.Script {
  // Dynamic import() from the file (none in our bundle; a dependency's) goes to node's own loader.
  const dynamic = vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER;
  return new vm.Script(wrap(source), {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    ...(dynamic ? { importModuleDynamically: dynamic } : {}),
  });
}

/** V8's data from `cacheFile` when it was made from the file whose digest is `digest`, else why not. */
function readCache(cacheFile: string, digest: () => Buffer): Buffer | 'none' | 'stale' {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(cacheFile);
  } catch {
    return 'none';
  }
  const head = MAGIC.length + DIGEST_BYTES;
  if (bytes.length <= head || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return 'stale';
  if (!bytes.subarray(MAGIC.length, head).equals(digest())) return 'stale';
  return bytes.subarray(head);
}

/**
 * Runs the CommonJS file `file` (as `require` would, with its own `require`) and returns its exports, compiled from
 * `cacheFile` when that holds V8's code for exactly this source.
 */
export function loadCommonJs(file: string, cacheFile: string): unknown {
  const { source, digest } = readScript(file);
  const cached = readCache(cacheFile, digest);
  const script = compile(file, source, typeof cached === 'string' ? undefined : cached);
  const use: CacheUse = typeof cached === 'string' ? cached : script.cachedDataRejected ? 'rejected' : 'accepted';
  if (process.env['SIDELOAD_DEBUG']?.split(',').includes('code-cache'))
    process.stderr.write(`sideload: code cache ${use}: ${path.basename(file)}\n`);
  loaded().set(cacheFile, { digest, script });
  return run(script, file);
}

type Loaded = { digest: () => Buffer; script: vm.Script };

/**
 * The scripts loadCommonJs compiled in this process, by cache file, for writeLoadedCache. Kept on globalThis: the
 * program bundles its own copy of this module, and the build's warm-up run (scripts/code-cache.mjs) loads OpenPGP.js
 * through that copy.
 */
function loaded(): Map<string, Loaded> {
  const key = Symbol.for('sideload.codeCache.loaded');
  const g = globalThis as Record<symbol, Map<string, Loaded>>;
  return (g[key] ??= new Map());
}

/**
 * Writes `cacheFile` for the script loadCommonJs compiled for it in this process, with the code the process has run
 * since: the build takes OpenPGP.js's cache after its warm-up run checked a signature. @returns the bytes of V8's
 * data, or null when no such script was loaded.
 */
export function writeLoadedCache(cacheFile: string): number | null {
  const entry = loaded().get(cacheFile);
  if (!entry) return null;
  return save(cacheFile, entry.digest, entry.script);
}

/** Runs the compiled wrapper as node runs a required file (its own `require`, `this` its exports); its exports. */
function run(script: vm.Script, file: string): unknown {
  const module = { exports: {} as unknown };
  const fn = script.runInThisContext() as (...args: unknown[]) => void;
  fn.call(module.exports, module.exports, createRequire(file), module, file, path.dirname(file));
  return module.exports;
}

/**
 * Writes `cacheFile` for `file`: compiles it, lets `warm` run what should be in the cache (code V8 compiles only when
 * it first runs is in the cache only if it ran), and saves V8's data. Run under the V8 flags the program runs with:
 * V8 refuses data made under other flags.
 */
export async function writeCodeCache(
  file: string,
  cacheFile: string,
  warm?: (exports: unknown) => void | Promise<void>,
): Promise<number> {
  const { source, digest } = readScript(file);
  const script = compile(file, source);
  if (warm) await warm(run(script, file));
  return save(cacheFile, digest, script);
}

/** Writes V8's data for `script` (compiled from the file whose digest is `digest`) with our header; its size. */
function save(cacheFile: string, digest: () => Buffer, script: vm.Script): number {
  const data = script.createCachedData();
  fs.writeFileSync(cacheFile, Buffer.concat([MAGIC, digest(), data]));
  return data.length;
}
