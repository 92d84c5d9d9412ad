/**
 * The certificates HTTPS trusts when the `sideload` command kept NODE_EXTRA_CA_CERTS from node (its launcher,
 * src/cli/main.ts): node parses that file at start-up, before any JavaScript, in every process that has the variable
 * (~40 ms for a system bundle of ~150 certificates), and only an HTTPS source needs it. The command hands the file
 * here instead (deferExtraCaCerts), and the first HTTPS connection builds one TLS context of node's bundled roots and
 * that file, which every later connection shares: the certificates node itself would have trusted, parsed once.
 *
 * A program that uses the library directly never calls deferExtraCaCerts: node loaded the file itself, and the
 * connections keep node's own context.
 */
import fs from 'node:fs';
import tls from 'node:tls';

/** The file node did not load, or null (nothing deferred). */
let deferred: string | null = null;
/** The context built for it on first use; null: the file could not be read, node's own context stands. */
let context: tls.SecureContext | null | undefined;

/** Node did not load `file` (NODE_EXTRA_CA_CERTS): the first HTTPS connection will. */
export function deferExtraCaCerts(file: string): void {
  deferred = file;
  context = undefined;
}

/**
 * The options of every HTTPS connection (https.request and tls.connect): `{ secureContext }` with node's bundled roots
 * and the deferred file, built on the first call; `{}` when nothing was deferred. A file that cannot be read is
 * ignored with node's warning on stderr, and the bundled roots alone are trusted, as node does.
 */
export function extraCaOptions(): { secureContext?: tls.SecureContext } {
  if (deferred === null) return {};
  if (context === undefined) context = load(deferred);
  return context ? { secureContext: context } : {};
}

function load(file: string): tls.SecureContext | null {
  try {
    return tls.createSecureContext({ ca: [...tls.rootCertificates, fs.readFileSync(file)] });
  } catch (e) {
    process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}\n`);
    return null;
  }
}
