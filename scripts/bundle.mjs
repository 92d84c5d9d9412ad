#!/usr/bin/env node
// The CLI as shipped: `npm run build` compiles src/ to dist/ with tsc (the library, its types, every module as
// written), then this bundles the command's entry dist/cli/main.js and the copy worker dist/repo/copy-worker.js
// into one file each: dist/cli/sideload.cjs (which the few lines of dist/cli/main.cjs, the installed command, load) and
// dist/cli/copy-worker.js, where worker-pool.js's relative worker URL points from the bundle; then
// scripts/code-cache.mjs writes V8's code cache for the program and for openpgp beside them (src/code-cache.ts). Start-up is mostly
// module loading (~90 ES modules). yargs is inside too: loaded as its own ~20 modules it took 0.10 s of every
// command's start (a re-run with nothing new 0.37 -> 0.32 CPU s, `--version` 0.19 -> 0.15 s, `list` 0.26 -> 0.19 s);
// from the bundle its y18n finds no locale files, so its few messages are English like all of ours (a German locale
// used to give a German first line and an English second).
// Outside the bundle stay @napi-rs/xattr and koffi (.node binaries) and openpgp (its minified CommonJS build, one
// file of 0.4 MiB, required only when a GPG signature is checked: sign/gpg.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(root, 'dist');
// CommonJS dependencies (fs-extra, tweetnacl …) call require() for Node's built-ins; an ES module has none.
const requireShim =
  "import { createRequire as __sideloadRequire } from 'node:module';\n" +
  'const require = __sideloadRequire(import.meta.url);';
// yargs, cliui, wrap-ansi and cli-progress import string-width, whose module body builds an Intl.Segmenter and a
// `\p{RGI_Emoji}` regex: ~15 ms of every command's start (a CPU profile of a re-run: 38 and 51 samples at 200 µs on
// those two lines), for help text and bars that most runs never lay out. Their import gets a stand-in that loads the
// real module on the first call (esbuild turns the require() of an ES module into a lazy init inside the bundle); the
// widths are the module's own.
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData === 'real') return undefined;
      const real = await b.resolve(args.path, {
        importer: args.importer,
        resolveDir: args.resolveDir,
        kind: args.kind,
        pluginData: 'real',
      });
      if (real.errors.length) return { errors: real.errors };
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    // The stand-in has the real module's shape: cli-progress require()s string-width 4, whose module.exports is the
    // function (an ES module's namespace there would be `{ default }`: "_stringWidth is not a function" on every
    // progress bar); cliui, wrap-ansi and yargs import string-width 7 and 8, ES modules with a default export.
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => {
      const body =
        `function stringWidth(text, options) {\n` +
        `  if (!width) { const m = require(${JSON.stringify(args.path)}); width = m.default ?? m; }\n` +
        `  return width(text, options);\n}\n`;
      const esm = packageType(args.path) === 'module';
      return {
        contents: `let width;\n${esm ? `export default ${body}` : `module.exports = ${body}`}`,
        resolveDir: path.dirname(args.path),
        loader: 'js',
      };
    });
  },
};
/**
 * Node's built-in modules that only some runs use (HTTP sources, the `sync` fallback of fsync, progress bars, the
 * copy workers): each import of one gets a stand-in whose properties load the real module on first use, as
 * string-width above; child_process alone brings 20 more internal modules (net, dgram, streams). The stand-in has
 * the module's own property names, read in this process, and a callable module stays callable. Not among them:
 * assert, which yargs reads as it loads.
 */
const LAZY_BUILTINS = ['child_process', 'http', 'https', 'net', 'readline', 'tls', 'worker_threads'];
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(b) {
    const filter = new RegExp(`^(node:)?(${LAZY_BUILTINS.join('|')})$`);
    b.onResolve({ filter }, (args) =>
      args.namespace === 'lazy-builtin'
        ? { path: args.path, external: true } // the stand-in's own require of the real module
        : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, ({ path: name }) => {
      const real = builtinRequire(`node:${name}`);
      const names = Object.keys(real).filter((k) => k !== 'default');
      return {
        contents:
          `let real;\nconst load = () => (real ??= require(${JSON.stringify(`node:${name}`)}));\n` +
          (typeof real === 'function'
            ? 'module.exports = function (...args) { return load().apply(this, args); };\n'
            : 'module.exports = {};\n') +
          `for (const k of ${JSON.stringify(names)})\n` +
          '  Object.defineProperty(module.exports, k, { get: () => load()[k], enumerable: true });\n',
        loader: 'js',
      };
    });
  },
};
/**
 * Two lines of yargs' node shim, rewritten; the build fails if either changes.
 * - Its "main file" is the directory above the node_modules that holds yargs, or, with none in its path (a bundle in
 *   a checkout), the working directory; each yargs() then guesses a version (which main.ts then sets itself) from the
 *   nearest package.json above it, reading every directory on the way up: in a working directory of 20,000 files
 *   that read alone is 13-17 ms (`--version` CPU 0.10 -> 0.08 s there, 10 alternated runs), a global install read
 *   /usr/lib, and a FIFO named package.json there blocked the program for good. In the bundle the main file is the
 *   package's own directory, above dist/cli/.
 * - It imports node:assert for two invariant checks, and node:assert loads seven built-in modules (net among them):
 *   3.6 ms of a re-run's start. The checks are done here and node:assert is loaded only to throw its own error, so a
 *   failing check reads as it did.
 */
const YARGS_SHIM_LINES = [
  [
    "const mainFilename = __dirname.substring(0, __dirname.lastIndexOf('node_modules'));",
    "const mainFilename = fileURLToPath(new URL('../..', import.meta.url));",
  ],
  [
    "import { notStrictEqual, strictEqual } from 'assert'",
    "const assert = () => createRequire(import.meta.url)('node:assert');\n" +
      'const notStrictEqual = (a, b, m) => void (Object.is(a, b) && assert().notStrictEqual(a, b, m));\n' +
      'const strictEqual = (a, b, m) => void (Object.is(a, b) || assert().strictEqual(a, b, m));',
  ],
];
const yargsShim = {
  name: 'yargs-shim',
  setup(b) {
    b.onLoad({ filter: /yargs[\\/]lib[\\/]platform-shims[\\/]esm\.mjs$/ }, (args) => {
      let text = fs.readFileSync(args.path, 'utf8');
      for (const [line, by] of YARGS_SHIM_LINES) {
        if (!text.includes(line)) throw new Error(`${args.path}: no line ${line}: update yargsShim`);
        text = text.replace(line, by);
      }
      return { contents: text, loader: 'js', resolveDir: path.dirname(args.path) };
    });
  },
};
/**
 * esbuild's CommonJS output turns each `import fs from 'node:fs'` into `__toESM(require("node:fs"), 1)`: a new object
 * with a getter for every property of the module, made once per importing module (node:path 50 times in the program,
 * node:fs/promises 19, node:fs 7 and 2 more in the launcher). The namespace is only ever read, so one per module
 * object serves every importer: the helper is wrapped to keep them in a WeakMap on globalThis (the launcher and the
 * program share it). The build fails if esbuild's helper is no longer there.
 */
const TO_ESM = 'var __toESM = (mod, isNodeMode, target) =>';
function shareNamespaces(text, file) {
  if (!text.includes(TO_ESM)) throw new Error(`${file}: no esbuild __toESM helper: update shareNamespaces`);
  return text.replace(
    TO_ESM,
    'var __toESM = (mod, isNodeMode) => {\n' +
      '  if (!isNodeMode || mod === null || (typeof mod !== "object" && typeof mod !== "function")) return __toESMEach(mod, isNodeMode);\n' +
      '  const seen = (globalThis[Symbol.for("sideload.namespaces")] ??= new WeakMap());\n' +
      '  let ns = seen.get(mod);\n' +
      '  if (!ns) seen.set(mod, (ns = __toESMEach(mod, isNodeMode)));\n' +
      '  return ns;\n' +
      '};\n' +
      'var __toESMEach = (mod, isNodeMode, target) =>',
  );
}
const builtinRequire = createRequire(import.meta.url);
/** The `type` of the package.json nearest to `file` ('commonjs' when it has none). */
function packageType(file) {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const pj = path.join(dir, 'package.json');
    if (fs.existsSync(pj)) return JSON.parse(fs.readFileSync(pj, 'utf8')).type ?? 'commonjs';
  }
  return 'commonjs';
}
/**
 * Rewrites the few characters outside ASCII that esbuild leaves (in comments it keeps: `→`, `…`, `§`) as `\\u`
 * escapes, the same text wherever JavaScript reads them (comments, strings, identifiers). One such character made V8
 * hold the whole 1.3 MB program as a two-byte string: 2.6 MB, in each copy node makes while loading it.
 */
function asciiOnly(file) {
  const text = fs.readFileSync(file, 'utf8');
  // eslint-disable-next-line no-control-regex
  const ascii = text.replace(/[^\x00-\x7f]/g, (u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) fs.writeFileSync(file, ascii);
}
const common = {
  bundle: true,
  plugins: [lazyStringWidth],
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@napi-rs/xattr', 'openpgp', 'koffi'],
  allowOverwrite: true,
  legalComments: 'none',
  logLevel: 'warning',
};
// main.ts starts with two lines that are both shell and JavaScript (see there); esbuild keeps the first (#!) and
// drops or rewrites the second, so it goes back in as the banner, taken from the entry itself (written once, there).
const launcher = fs.readFileSync(path.join(dist, 'cli/main.js'), 'utf8').split('\n', 2)[1] ?? '';
if (!/; exec \/usr\/bin\/env .* node .*"\$0" "\$@"$/.test(launcher))
  throw new Error(`dist/cli/main.js: no launcher line: ${launcher}`);
const launchFile = path.join(dist, 'cli/launch.js');
if (!fs.existsSync(launchFile)) throw new Error(`${launchFile} missing: run tsc first (npm run build does both)`);
// launch.js with the modules it imports (the command names, the code cache loader) inlined; the program stays apart.
// CommonJS, as the program: node starting an ES module first loads its ES module loader and, for `import fs from
// 'node:fs'`, the stream modules behind fs's lazy getters, all before any code of ours has put V8's flags back to
// node's defaults (src/cli/heap.ts), so without node's code cache (~20 modules). Re-run with nothing new 185 -> 179 ms.
const importMetaUrl = {
  define: { 'import.meta.url': '__sideloadImportMetaUrl' },
  banner: { js: 'var __sideloadImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
};
const launch = (
  await build({
    ...common,
    ...importMetaUrl,
    format: 'cjs',
    plugins: [],
    external: [],
    entryPoints: [launchFile],
    write: false,
  })
).outputFiles[0].text;
// The program goes to dist/cli/sideload.cjs; dist/cli/main.cjs is the launcher lines and launch.js, which answers
// Ctrl-C from node's first line of our code on and then imports the program (node compiles a module whole before
// running it: ~50 ms for the bundle, when a Ctrl-C killed node without a word or a --json document).
// CommonJS, so that launch.js can compile it with V8's code cache (vm.Script; an ES module has no such option in
// Node 20): import.meta.url becomes the bundle's own file URL.
await build({
  ...common,
  format: 'cjs',
  plugins: [lazyStringWidth, lazyBuiltins, yargsShim],
  entryPoints: [path.join(dist, 'cli/main.js')],
  outfile: path.join(dist, 'cli/sideload.cjs'),
  ...importMetaUrl,
});
fs.rmSync(path.join(dist, 'cli/sideload.js'), { force: true }); // the ES module bundle of earlier builds
const program = path.join(dist, 'cli/sideload.cjs');
fs.writeFileSync(program, shareNamespaces(fs.readFileSync(program, 'utf8'), program));
asciiOnly(program);
fs.writeFileSync(path.join(dist, 'cli/main.cjs'), `#!/bin/sh\n${launcher}\n${shareNamespaces(launch, 'launch.js')}`);
fs.chmodSync(path.join(dist, 'cli/main.cjs'), 0o755);
// tsc's main.js is in the program now (left in place, it would run that without the launcher's lines), and
// launch.js in main.cjs.
for (const f of ['main.js', 'main.d.ts', 'launch.js', 'launch.d.ts'])
  fs.rmSync(path.join(dist, 'cli', f), { force: true });
await build({
  ...common,
  entryPoints: [path.join(dist, 'repo/copy-worker.js')],
  outfile: path.join(dist, 'cli/copy-worker.js'),
  banner: { js: requireShim },
});
// V8's code cache, made under the launcher's V8 flags (V8 refuses data made under other flags): node runs with them.
const flags = /\bnode((?: --[^\s"]+)*) "\$0"/.exec(launcher)?.[1]?.trim().split(/\s+/) ?? [];
const made = spawnSync(process.execPath, [...flags, path.join(root, 'scripts/code-cache.mjs')], { stdio: 'inherit' });
if (made.status !== 0) throw new Error(`scripts/code-cache.mjs failed (${made.status ?? made.signal})`);
