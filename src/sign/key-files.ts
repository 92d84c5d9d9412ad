/**
 * The one owner of key files named on the command line (`--sign-key`, `--upstream-key`, `--drive-key`,
 * `--gpg-import`, and the old spellings `--trusted-key`, `--upstream-gpg`): each is read here, its kind checked, and every error names the file and the
 * option. A key of the wrong kind is refused (exit 2) instead of being misused: a public key where a secret one is
 * needed, a secret key where a public one is expected, anything but OpenPGP key material for a GPG option.
 */
import fs from 'node:fs/promises';
import { expectFailure, NotFoundError, UsageError } from '../errors.js';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SECRET_KEY_BYTES, loadPublicKeys, loadSecretKey } from './ed25519.js';

/** Key files are small: anything larger is not one (and is not read into memory). */
export const MAX_KEY_FILE_BYTES = 1 << 20;

async function readKeyBytes(file: string, option: string): Promise<Buffer> {
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new NotFoundError(`key file '${file}' (${option}) cannot be read: it does not exist`, { path: file, option });
  }
  if (!st.isFile())
    throw new UsageError(`key file '${file}' (${option}) is not a regular file`, { path: file, option });
  if (st.size > MAX_KEY_FILE_BYTES)
    throw new UsageError(`key file '${file}' (${option}) is ${st.size} bytes: not a key file`, { path: file, option });
  try {
    return await fs.readFile(file);
  } catch (e) {
    throw new UsageError(
      `key file '${file}' (${option}) cannot be read: ${expectFailure(e).message}`,
      { path: file, option },
      'EUSAGE',
      { cause: e },
    );
  }
}

/** Byte lengths of the base64 lines of a text key file (null when it is not such a file). */
function base64Lengths(text: string): number[] | null {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  if (!lines.length || !lines.every((l) => /^[A-Za-z0-9+/]+={0,2}$/.test(l))) return null;
  return lines.map((l) => Buffer.from(l, 'base64').length);
}

function looksOpenPgp(b: Uint8Array): boolean {
  if (Buffer.from(b.subarray(0, 64)).toString('latin1').includes('-----BEGIN PGP')) return true;
  // Binary: a packet header whose tag is a public key (6), secret key (5) or a GnuPG keybox-free keyring packet.
  const t = b[0] ?? 0;
  if ((t & 0x80) === 0) return false;
  const tag = t & 0x40 ? t & 0x3f : (t >> 2) & 0x0f;
  return tag === 6 || tag === 5;
}

/** The ed25519 secret key (64 bytes) in `file`, for signing. Refuses a public key, naming the file. */
export async function readSecretKeyFile(file: string, option = '--sign-key'): Promise<Uint8Array> {
  const bytes = await readKeyBytes(file, option);
  const text = bytes.toString('utf8');
  const lengths = base64Lengths(text);
  if (lengths?.every((n) => n === ED25519_PUBLIC_KEY_BYTES))
    throw new UsageError(
      `'${file}' (${option}) holds an ed25519 public key (${ED25519_PUBLIC_KEY_BYTES} bytes); signing needs the ` +
        `${ED25519_SECRET_KEY_BYTES}-byte secret key ` +
        `(\`sideload keygen -o FILE\` writes the secret key to FILE and the public one to FILE.pub)`,
      { path: file, option },
    );
  if (!lengths && looksOpenPgp(bytes))
    throw new UsageError(
      `'${file}' (${option}) is an OpenPGP key; ${option} takes an ed25519 secret key (sideload keygen)`,
      { path: file, option },
    );
  return loadSecretKey(text, `'${file}' (${option})`);
}

/** The ed25519 public keys in `file` (one per line), for checking. Refuses a secret key, naming the file. */
export async function readPublicKeyFile(file: string, option = '--upstream-key'): Promise<Uint8Array[]> {
  const bytes = await readKeyBytes(file, option);
  const text = bytes.toString('utf8');
  const lengths = base64Lengths(text);
  if (lengths?.some((n) => n === ED25519_SECRET_KEY_BYTES))
    throw new UsageError(
      `'${file}' (${option}) holds an ed25519 secret key; ${option} takes the public key (the .pub file ` +
        `\`sideload keygen\` writes beside it): never hand out the secret one`,
      { path: file, option },
    );
  if (!lengths && looksOpenPgp(bytes))
    throw new UsageError(
      `'${file}' (${option}) is an OpenPGP key; ${option} takes an ed25519 public key (use --gpg-import for ` +
        'OpenPGP keys)',
      { path: file, option },
    );
  return loadPublicKeys(text, `'${file}' (${option})`);
}

/** ed25519 public keys from text that is not a file (a remote's `verification-ed25519-key`). */
export function publicKeysFromText(text: string, where: string): Uint8Array[] {
  return loadPublicKeys(text, where);
}

/**
 * An OpenPGP keyring or key file (binary, as flatpak's `<remote>.trustedkeys.gpg`, or armored), checked to hold at
 * least one public key. Refuses anything else (an ed25519 key, a text file), naming the file.
 */
export async function readGpgKeyFile(file: string, option = '--gpg-import'): Promise<Uint8Array> {
  const bytes = new Uint8Array(await readKeyBytes(file, option));
  const lengths = base64Lengths(Buffer.from(bytes).toString('utf8'));
  if (lengths && lengths.every((n) => n === ED25519_PUBLIC_KEY_BYTES || n === ED25519_SECRET_KEY_BYTES))
    throw new UsageError(
      `'${file}' (${option}) is an ed25519 key, not an OpenPGP key; an upstream's ed25519 key goes to ` +
        "--upstream-key (a drive's own public key: verify --drive-key)",
      { path: file, option },
    );
  if (!looksOpenPgp(bytes))
    throw new UsageError(
      `'${file}' (${option}) is not an OpenPGP key file (neither a binary keyring nor an armored key)`,
      { path: file, option },
    );
  const { keyringKeys } = await import('./gpg.js');
  let n: number;
  try {
    n = await keyringKeys(bytes);
  } catch (e) {
    const why = expectFailure(e).message.replace(/^GPG keyring #1 cannot be read: /, '');
    throw new UsageError(
      `'${file}' (${option}) is not a readable OpenPGP key file: ${why}`,
      { path: file, option },
      'EUSAGE',
      {
        cause: e,
      },
    );
  }
  if (n === 0) throw new UsageError(`'${file}' (${option}) holds no OpenPGP key`, { path: file, option });
  return bytes;
}

/** Key files given on the command line for a source, used in addition to what the source knows. */
export interface ExtraKeys {
  /** OpenPGP keyring files (binary or armored). */
  readonly gpgKeyrings?: readonly string[];
  /** ed25519 public key files (base64, one per line). */
  readonly ed25519Keys?: readonly string[];
  /**
   * The option each file was named by, for errors (`--trusted-key` for a file given with that old spelling);
   * default `--gpg-import` for the keyrings and `--upstream-key` for the ed25519 keys.
   */
  readonly optionOf?: Readonly<Record<string, string>>;
}

/** Key files named on the command line for a source, read and typed: OpenPGP keyrings and ed25519 public keys. */
export async function loadExtraKeys(
  extra: ExtraKeys | undefined,
): Promise<{ gpg: Uint8Array[]; ed25519: Uint8Array[] }> {
  const gpg: Uint8Array[] = [];
  const ed25519: Uint8Array[] = [];
  const optionOf = (f: string, fallback: string) =>
    extra?.optionOf && Object.hasOwn(extra.optionOf, f) ? (extra.optionOf[f] as string) : fallback;
  for (const f of extra?.gpgKeyrings ?? []) gpg.push(await readGpgKeyFile(f, optionOf(f, '--gpg-import')));
  for (const f of extra?.ed25519Keys ?? [])
    ed25519.push(...(await readPublicKeyFile(f, optionOf(f, '--upstream-key'))));
  return { gpg, ed25519 };
}
