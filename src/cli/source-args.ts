/** The source options every copying command shares, and opening the source they name. */
import type { Argv } from 'yargs';
import { UsageError } from '../errors.js';
import type { RetryInfo } from '../transport/http.js';
import type { Source } from '../usb/source.js';

export interface SourceArgs {
  user?: boolean;
  system?: boolean;
  installation?: string;
  'installation-dir'?: string;
  repo?: string;
  url?: string;
  from?: string;
  remote?: string;
  'collection-id'?: string;
  'gpg-import'?: string[];
  'upstream-key'?: string[];
  /** Earlier spelling of --upstream-key, kept as a hidden alias. */
  'trusted-key'?: string[];
  offline?: boolean;
}

export function sourceOptions<T>(y: Argv<T>): Argv<T & SourceArgs> {
  return y
    .group(
      [
        'user',
        'system',
        'installation',
        'installation-dir',
        'repo',
        'url',
        'from',
        'remote',
        'collection-id',
        'gpg-import',
        'upstream-key',
        'offline',
      ],
      'Source (default: the flatpak installation that has the refs):',
    )
    .option('user', { alias: 'u', type: 'boolean', describe: 'The per-user flatpak installation' })
    .option('system', { type: 'boolean', describe: 'The system-wide flatpak installation' })
    .option('installation', { type: 'string', describe: 'A flatpak installation by name (installations.d)' })
    .option('installation-dir', { type: 'string', describe: 'A flatpak installation by its root directory' })
    .option('repo', { type: 'string', describe: 'A local ostree repo (archive or bare): newest commit of each ref' })
    .option('url', { type: 'string', describe: 'An HTTP(S) ostree/flatpak remote URL' })
    .option('from', {
      type: 'string',
      describe: 'A .flatpakrepo file or http(s):// URL of one (URL, collection ID and key)',
    })
    .option('remote', { type: 'string', describe: 'Read from the URL of this remote of a flatpak installation' })
    .option('collection-id', { type: 'string', describe: 'Collection ID of the source refs when the source has none' })
    .option('gpg-import', {
      type: 'string',
      array: true,
      describe: 'OpenPGP keyring/key file trusted for upstream signatures',
    })
    .option('upstream-key', {
      type: 'string',
      array: true,
      describe: 'ed25519 public key file trusted for upstream signatures',
    })
    .option('trusted-key', { type: 'string', array: true, hidden: true })
    .option('offline', {
      type: 'boolean',
      describe:
        "Installation or repo source: do not read its remotes' http(s) URLs for the current appstream and " +
        'upstream summary (file:// URLs are still read)',
    }) as unknown as Argv<T & SourceArgs>;
}

/**
 * Opens the source the options name. `onRetry`: told of each HTTP retry's wait, for the notes on stderr
 * (retry-notes.ts).
 */
export async function openSourceFromArgs(
  args: SourceArgs,
  signal?: AbortSignal,
  onRetry?: (info: RetryInfo) => void,
): Promise<Source> {
  const kinds = [args.repo && '--repo', args.url && '--url', args.from && '--from', args.remote && '--remote'].filter(
    Boolean,
  );
  if (kinds.length > 1) throw new UsageError(`choose one source: ${kinds.join(', ')}`);
  const [{ openInstallationSource }, { openRepoSource }] = await Promise.all([
    import('../usb/installation-source.js'),
    import('../usb/repo-source.js'),
  ]);
  // Errors about a key file name the option it was given with (the old --trusted-key too).
  const optionOf = Object.create(null) as Record<string, string>;
  for (const o of ['gpg-import', 'upstream-key', 'trusted-key'] as const)
    for (const f of args[o] ?? []) optionOf[f] ??= `--${o}`;
  const keys = {
    ...(args['gpg-import'] ? { gpgKeyrings: args['gpg-import'] } : {}),
    ...(args['upstream-key'] || args['trusted-key']
      ? { ed25519Keys: [...(args['upstream-key'] ?? []), ...(args['trusted-key'] ?? [])] }
      : {}),
    optionOf,
  };
  const transport = { ...httpOptionsFromEnv(process.env), ...(onRetry ? { onRetry } : {}) };
  const remoteRead = {
    ...(args.offline ? { offline: true } : {}),
    ...(signal ? { signal } : {}),
    transport,
  };
  if (args.repo)
    return openRepoSource(args.repo, {
      ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
      keys,
      remoteRead,
    });
  const scope = {
    ...(args.user ? { user: true } : {}),
    ...(args.system ? { system: true } : {}),
    ...(args.installation ? { installation: args.installation } : {}),
    ...(args['installation-dir'] ? { installationDir: args['installation-dir'] } : {}),
  };
  if (args.url || args.from || args.remote)
    return (await import('../usb/remote-source.js')).openRemoteSource({
      ...(args.url ? { url: args.url } : {}),
      ...(args.from ? { flatpakrepo: args.from } : {}),
      ...(args.remote ? { remote: args.remote, scope } : {}),
      ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
      keys,
      ...(signal ? { signal } : {}),
      transport,
    });
  // With several installations in scope, the refs on the command line choose the one to read (as in flatpak).
  return openInstallationSource(
    scope,
    keys,
    (args as { refs?: readonly string[] }).refs,
    remoteRead,
    args['collection-id'] ? { collectionId: args['collection-id'] } : {},
  );
}

/**
 * HTTP tuning from the environment (README "Network"): retries, first backoff, stall timeout, overall deadline,
 * concurrency, the longest Retry-After waited out.
 */
export const HTTP_ENV = {
  SIDELOAD_HTTP_RETRIES: 'retries',
  SIDELOAD_HTTP_BACKOFF_MS: 'backoffMs',
  SIDELOAD_HTTP_STALL_MS: 'stallTimeoutMs',
  SIDELOAD_HTTP_TIMEOUT_MS: 'timeoutMs',
  SIDELOAD_HTTP_CONCURRENCY: 'concurrency',
  SIDELOAD_HTTP_RETRY_AFTER_MAX_MS: 'maxRetryAfterMs',
} as const;

export function httpOptionsFromEnv(env: Readonly<Record<string, string | undefined>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, key] of Object.entries(HTTP_ENV)) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    const n = Number(v);
    const min = key === 'retries' || key === 'backoffMs' || key === 'maxRetryAfterMs' ? 0 : 1;
    if (!/^\d+$/.test(v.trim()) || n < min)
      throw new UsageError(`${name} must be a whole number${min ? ' ≥ 1' : ''}, got '${v}'`, { [name]: v });
    out[key] = n;
  }
  return out;
}
