/**
 * The options every command that writes a drive from a source shares (create, update): signing, the upstream copy
 * policy, dry run, fsync, strictness and output; declared once, turned into ApplyOptions once.
 */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { DeflateEngine } from '../repo/libdeflate.js';
import type { UpstreamPolicy } from '../usb/upstream.js';
import { sourceDateEpoch } from '../usb/source-date.js';
import { OUTPUT_OPTIONS, type OutputArgs } from './common-options.js';

export interface WriteArgs extends OutputArgs {
  'sign-key'?: string;
  unsigned?: boolean;
  'upstream-summary'?: boolean;
  'allow-unsigned-upstream'?: boolean;
  'dry-run'?: boolean;
  fsync?: boolean;
  strict?: boolean;
  progress?: boolean;
  repair?: boolean;
}

/** --unsigned, as create, update and remove take it. */
export const UNSIGNED_DESCRIPTION =
  'Publish without a signature although the drive is signed (without --sign-key or this, a signed drive is refused)';

/** --strict, as create, update and lock take it. */
export const STRICT_DESCRIPTION =
  'Treat warnings as errors: fail at the first one (ESTRICT), before anything is written';

/** `upstream`: how --no-upstream-summary reads for this command. `dryRun`: what a dry run does. */
export function writeOptions<T>(y: Argv<T>, text: { upstream: string; dryRun: string }): Argv<T & WriteArgs> {
  return y
    .option('sign-key', {
      type: 'string',
      describe: 'ed25519 secret key file (sideload keygen) to sign the summary and ostree-metadata commits',
    })
    .option('unsigned', { type: 'boolean', describe: UNSIGNED_DESCRIPTION })
    .option('upstream-summary', { type: 'boolean', default: true, describe: text.upstream })
    .option('allow-unsigned-upstream', {
      type: 'boolean',
      describe: 'Carry an upstream summary even if it is unsigned',
    })
    .option('dry-run', { type: 'boolean', describe: text.dryRun })
    .option('fsync', {
      type: 'boolean',
      default: true,
      describe: 'fsync written data (--no-fsync for throwaway targets)',
    })
    .option('strict', { type: 'boolean', describe: STRICT_DESCRIPTION })
    .option('repair', {
      type: 'boolean',
      describe:
        'Also walk every ref the drive keeps and re-hash each object: copy missing or corrupt ones again from the ' +
        'source (a drive with nothing to mend is only read)',
    })
    .options(OUTPUT_OPTIONS)
    .option('progress', {
      type: 'boolean',
      default: true,
      describe: 'Show progress bars on a terminal',
    }) as unknown as Argv<T & WriteArgs>;
}

/** --no-upstream-summary and --allow-unsigned-upstream as a policy (create, update, lock). */
export function upstreamPolicy(args: Pick<WriteArgs, 'upstream-summary' | 'allow-unsigned-upstream'>): UpstreamPolicy {
  if (args['upstream-summary'] === false) return 'skip';
  return args['allow-unsigned-upstream'] ? 'allow-unsigned' : 'require-signature';
}

/** The ApplyOptions fields the shared flags (and SIDELOAD_DEFLATE) set (the key is read by signKeyOption). */
export function writeSettings(args: WriteArgs): {
  strict: boolean;
  upstream: UpstreamPolicy;
  dryRun: boolean;
  fsync: boolean;
  deflate: DeflateEngine;
  unsigned: boolean;
  repair: boolean;
} {
  // Checked before any source is read (the library checks it again before a run writes).
  sourceDateEpoch(process.env);
  return {
    unsigned: !!args.unsigned,
    repair: !!args.repair,
    strict: !!args.strict,
    upstream: upstreamPolicy(args),
    dryRun: !!args['dry-run'],
    fsync: args.fsync !== false,
    deflate: deflateFromEnv(process.env),
  };
}

/** SIDELOAD_DEFLATE (README "Compression"): `zlib` keeps libdeflate out; unset, empty or `auto` is the default. */
export function deflateFromEnv(env: Readonly<Record<string, string | undefined>>): DeflateEngine {
  const v = env['SIDELOAD_DEFLATE'];
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'zlib') return 'zlib';
  throw new UsageError(`SIDELOAD_DEFLATE must be 'auto' or 'zlib', got '${v}'`, { SIDELOAD_DEFLATE: v });
}

/**
 * The secret key file given (`option` names where it was given, in errors) as the ApplyOptions field: read here,
 * so that its file name goes in errors; `{}` without one.
 */
export async function signKeyOption(
  file: string | undefined,
  option = '--sign-key',
): Promise<{ signKey?: Uint8Array }> {
  if (!file) return {};
  const { readSecretKeyFile } = await import('../sign/key-files.js');
  return { signKey: await readSecretKeyFile(file, option) };
}
