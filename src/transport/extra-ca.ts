/**
 * The certificates HTTPS trusts when the `sideload` command kept NODE_EXTRA_CA_CERTS from node (its launcher,
 * src/cli/main.ts): node parses that file at start-up, before any JavaScript, in every process that has the variable
 * (~40 ms for a system bundle of ~150 certificates), and only an HTTPS source needs it. The command hands the file
 * here instead (deferExtraCaCerts), and the first HTTPS connection builds one TLS context of node's own roots and
 * that file, which every later connection shares: the certificates node itself would have trusted, parsed once.
 * Node's own roots are its bundled ones, or OpenSSL's store under `--use-openssl-ca` (the context starts from node's
 * default store, as node's own does). A file node would refuse is refused with node's warning: one whose certificate
 * has no END line, or a certificate that does not parse; node then trusts none of the file, and neither does this.
 *
 * A program that uses the library directly never calls deferExtraCaCerts: node loaded the file itself, and the
 * connections keep node's own context.
 */
import { X509Certificate } from 'node:crypto';
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
 * The options of every HTTPS connection (https.request and tls.connect): `{ secureContext }` with node's own roots
 * and the deferred file, built on the first call; `{}` when nothing was deferred. A file that cannot be read or that
 * node would refuse is ignored with node's warning on stderr, and node's roots alone are trusted, as node does.
 */
export function extraCaOptions(): { secureContext?: tls.SecureContext } {
  if (deferred === null) return {};
  if (context === undefined) context = load(deferred);
  return context ? { secureContext: context } : {};
}

function load(file: string): tls.SecureContext | null {
  let certs: string[];
  try {
    certs = pemCertificates(fs.readFileSync(file, 'latin1'));
  } catch (e) {
    process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${(e as Error).message}\n`);
    return null;
  }
  // No `ca` option: that would replace node's default store (the bundled roots, or OpenSSL's store under
  // --use-openssl-ca) instead of adding to it. Node adds NODE_EXTRA_CA_CERTS to that store the same way.
  const ctx = tls.createSecureContext();
  // One call for all (its PEM reader takes them in turn); a certificate it could not read would end that quietly,
  // which is why pemCertificates parsed each first, as node's loader does (~25 ms for a bundle of ~150).
  if (certs.length)
    (ctx as unknown as { context: { addCACert(pem: string): void } }).context.addCACert(certs.join('\n'));
  return ctx;
}

const PEM_CERT = /-----BEGIN (X509 )?CERTIFICATE-----[^-]*-----END (X509 )?CERTIFICATE-----/g;

/**
 * The certificates of a PEM file, as OpenSSL's PEM reader takes them for node: every CERTIFICATE block (other blocks
 * are passed over). @throws for a certificate block without its END line or one that does not parse.
 */
export function pemCertificates(text: string): string[] {
  const certs = text.match(PEM_CERT) ?? [];
  if (/-----BEGIN (X509 )?CERTIFICATE-----/.test(text.replace(PEM_CERT, '')))
    throw new Error('bad end line (a certificate without its -----END CERTIFICATE----- line)');
  for (const pem of certs) new X509Certificate(pem); // throws for one that does not parse
  return certs;
}
