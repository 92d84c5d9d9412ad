/**
 * `sideload.json`, the record beside each carried upstream copy (`UPSTREAM_DIR/<collection>/sideload.json`): where
 * the copy came from and what its check found when the drive was written. One type, one writer, one reader.
 */
import path from 'node:path';
import { CorruptError, expectOnly } from '../errors.js';
import { readLocalText } from '../transport/local.js';

/** The record's file name inside an upstream copy's directory (not part of the copy). */
export const UPSTREAM_RECORD = 'sideload.json';

/** `sideload.json` is a few hundred bytes: a record larger than this is not one. */
export const RECORD_LIMIT = 1 << 20;

export interface UpstreamRecord {
  /** Where the upstream files were read (a URL, or an installation's cache of a remote). */
  readonly origin: string;
  /** Signature kinds that verified ('gpg', 'ed25519'); empty = carried unsigned. */
  readonly signedBy: readonly string[];
  /** Key ids / fingerprints that verified. */
  readonly keys: readonly string[];
  /** The signed root of the copy. */
  readonly root: 'summary' | 'summary.idx';
  /** The copy's files, relative to its directory, sorted. */
  readonly files: readonly string[];
}

/** The record's text (pretty JSON, fields in this order, trailing newline). */
export function encodeUpstreamRecord(r: UpstreamRecord): string {
  return (
    JSON.stringify({ origin: r.origin, signedBy: r.signedBy, keys: r.keys, root: r.root, files: r.files }, null, 2) +
    '\n'
  );
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

/**
 * Parses and validates a record's text.
 * @throws CorruptError naming `where` and the field at fault.
 */
export function decodeUpstreamRecord(text: string, where = UPSTREAM_RECORD): UpstreamRecord {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new CorruptError(`${where}: not JSON (${expectOnly(e, SyntaxError).message})`, { file: where }, 'ECORRUPT', {
      cause: e,
    });
  }
  const o = (typeof v === 'object' && v !== null && !Array.isArray(v) ? v : {}) as Record<string, unknown>;
  const bad = (field: string, want: string) =>
    new CorruptError(`${where}: '${field}' is not ${want}`, { file: where, field });
  if (typeof o['origin'] !== 'string') throw bad('origin', 'a string');
  if (!isStrings(o['signedBy'])) throw bad('signedBy', 'a list of strings');
  if (!isStrings(o['keys'])) throw bad('keys', 'a list of strings');
  if (o['root'] !== 'summary' && o['root'] !== 'summary.idx') throw bad('root', "'summary' or 'summary.idx'");
  if (!isStrings(o['files'])) throw bad('files', 'a list of strings');
  return { origin: o['origin'], signedBy: o['signedBy'], keys: o['keys'], root: o['root'], files: o['files'] };
}

/** Reads the record of the upstream copy in `dir`; null when there is none. @throws CorruptError when it is invalid. */
export async function readUpstreamRecord(dir: string): Promise<UpstreamRecord | null> {
  const file = path.join(dir, UPSTREAM_RECORD);
  const text = await readLocalText(file, RECORD_LIMIT);
  return text === null ? null : decodeUpstreamRecord(text, file);
}
