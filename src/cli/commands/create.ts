/** `sideload create DRIVE REF…` (alias `create-usb`): parse, open the source, call createDrive, render. */
import type { CommandModule } from 'yargs';
import fs from 'fs-extra';
import { UsageError } from '../../errors.js';
import type { CreateResult } from '../../usb/create.js';
import { openSourceFromArgs, sourceOptions, type SourceArgs } from '../source-args.js';
import { createProgress } from '../progress.js';
import { Output, formatBytes } from '../output.js';

interface CreateArgs extends SourceArgs {
  drive: string;
  refs: string[];
  'destination-repo'?: string;
  app?: boolean;
  runtime?: boolean;
  arch?: string[];
  locales?: string;
  extensions?: 'auto' | 'all' | 'locale' | 'none';
  'include-sdk'?: boolean;
  'allow-partial'?: boolean;
  'allow-downgrade'?: boolean;
  'sign-key'?: string;
  'upstream-summary'?: boolean;
  'allow-unsigned-upstream'?: boolean;
  'dry-run'?: boolean;
  fsync?: boolean;
  'compression-level'?: number;
  strict?: boolean;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
  commit?: string[];
  'allow-unsigned-commits'?: boolean;
}

export function createCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, CreateArgs> {
  return {
    command: 'create <drive> <refs..>',
    aliases: ['create-usb'],
    describe: 'Copy apps and runtimes (with their runtime, locales and extensions) onto a drive',
    builder: (y) =>
      sourceOptions(y)
        .positional('drive', { type: 'string', demandOption: true, describe: 'The drive (mount) directory' })
        .positional('refs', { type: 'string', array: true, demandOption: true, describe: 'Refs: org.example.App, org.example.App//stable, app/ID/ARCH/BRANCH' })
        .option('destination-repo', { type: 'string', describe: 'Repo path inside the drive (default .ostree/repo; installer payloads use flatpak/repo)' })
        .option('app', { type: 'boolean', describe: 'Match partial refs against apps only' })
        .option('runtime', { type: 'boolean', describe: 'Match partial refs against runtimes only' })
        .option('arch', { type: 'string', array: true, describe: 'Arch for partial refs; repeat for several arches on one drive' })
        .option('locales', { type: 'string', describe: 'Languages of Locale extensions, comma-separated (e.g. de,fr); default all (installation: the installed ones)' })
        .option('extensions', { choices: ['auto', 'all', 'locale', 'none'] as const, default: 'auto' as const, describe: 'Related extensions to copy: auto = Locale + what clients download by default (GL .default), all = every one in the source' })
        .option('include-sdk', { type: 'boolean', describe: "Also copy each app's SDK" })
        .option('allow-partial', { type: 'boolean', describe: 'Do not warn about partially installed refs' })
        .option('allow-downgrade', { type: 'boolean', describe: 'Allow replacing a ref on the drive by an older commit' })
        .option('sign-key', { type: 'string', describe: 'ed25519 secret key file (sideload keygen) to sign the summary and ostree-metadata commits' })
        .option('upstream-summary', { type: 'boolean', default: true, describe: 'Carry the signed upstream summary (use --no-upstream-summary to leave it off)' })
        .option('allow-unsigned-upstream', { type: 'boolean', describe: 'Carry an upstream summary even if it is unsigned' })
        .option('dry-run', { type: 'boolean', describe: 'Show what would be copied, copy nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync written data (--no-fsync for throwaway targets)' })
        .option('compression-level', { type: 'number', describe: 'zlib level for files recompressed from an installation (0-9, default 6, as ostree); data that is already compressed is stored at any level' })
        .option('allow-unsigned-commits', { type: 'boolean', describe: 'Copy commits that are unsigned or signed by an untrusted key even when the source\'s keys are known (refused by default, exit 5)' })
        .option('commit', { type: 'string', array: true, describe: 'REF=CHECKSUM: copy this commit of REF instead of the current one (repeatable; REF in full or as given)' })
        .option('strict', { type: 'boolean', describe: 'Treat warnings as errors' })
        .option('json', { type: 'boolean', describe: 'Print the result as JSON' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print nothing but errors' })
        .option('progress', { type: 'boolean', default: true, describe: 'Show progress bars on a terminal' })
        .example('$0 create /run/media/me/USB org.gnome.Maps', 'Copy an installed app with its runtime and locales')
        .example('$0 create --repo ./repo --arch x86_64 --arch aarch64 /mnt/usb org.example.App', 'From a local repo, two arches')
        .example('$0 create --url https://dl.flathub.org/repo --collection-id org.flathub.Stable --gpg-import flathub.gpg /mnt/usb org.gnome.Maps', 'Straight from a remote, nothing installed')
        .example('$0 create --repo ./repo --destination-repo flatpak/repo ./iso-root org.example.App', 'A Fedora-style installer payload')
        .example('$0 create --dry-run --json /mnt/usb org.gnome.Maps', 'Show the plan as JSON') as never,
    handler: async (args) => {
      const out = new Output({ json: !!args.json, quiet: !!args.quiet });
      const compression = args['compression-level'];
      if (compression !== undefined && (!Number.isInteger(compression) || compression < 0 || compression > 9))
        throw new UsageError(`--compression-level must be 0-9, got ${compression}`);
      if (args.app && args.runtime) throw new UsageError('--app and --runtime exclude each other');
      // The engine loads here, not at startup: --help and the other commands stay fast.
      const [{ createDrive }, { loadSecretKey }] = await Promise.all([import('../../usb/create.js'), import('../../sign/index.js')]);
      const signKey = args['sign-key'] ? loadSecretKey(await readText(args['sign-key']), args['sign-key']) : undefined;
      const progress = createProgress(!args.json && !args.quiet && args.progress !== false);
      const source = await openSourceFromArgs(args, signal);
      let result: CreateResult;
      try {
        result = await createDrive(
          {
            drive: args.drive,
            refs: args.refs,
            ...(args['destination-repo'] ? { destinationRepo: args['destination-repo'] } : {}),
            ...(args.app ? { kinds: ['app'] as const } : args.runtime ? { kinds: ['runtime'] as const } : {}),
            ...(args.arch ? { arches: args.arch } : {}),
            ...(args.locales ? { locales: args.locales.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
            ...(args.extensions ? { extensions: args.extensions } : {}),
            ...(args['include-sdk'] ? { includeSdk: true } : {}),
            ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
            ...(args.commit?.length ? { commits: parseCommitArgs(args.commit) } : {}),
            allowPartial: !!args['allow-partial'],
            allowDowngrade: !!args['allow-downgrade'],
            ...(args['allow-unsigned-commits'] ? { allowUnsignedCommits: true } : {}),
            strict: !!args.strict,
            upstream: args['upstream-summary'] === false ? 'skip' : args['allow-unsigned-upstream'] ? 'allow-unsigned' : 'require-signature',
            ...(signKey ? { signKey } : {}),
            dryRun: !!args['dry-run'],
            fsync: args.fsync !== false,
            ...(compression !== undefined ? { compressionLevel: compression } : {}),
            signal,
            onProgress: (e) => progress.onProgress(e),
            onWarning: (w) => out.warn(w),
            remoteFixHint: (remote) =>
              `${args['installation-dir'] ? `FLATPAK_USER_DIR=${args['installation-dir']} ` : ''}flatpak remote-modify ${source.kind === 'installation' ? installationFlag(args) : ''}--collection-id=<COLLECTION-ID> ${remote}`,
          },
          source,
        );
      } finally {
        progress.stop();
        await source.close();
      }
      out.result({ ok: true, ...result });
      render(out, result);
      setCode(0);
    },
  };
}

/** `--commit REF=CHECKSUM` (repeatable) → { REF: CHECKSUM }; the planner checks the checksums and the refs. */
function parseCommitArgs(list: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list) {
    const eq = item.lastIndexOf('=');
    if (eq <= 0) throw new UsageError(`--commit '${item}': expected REF=CHECKSUM`, { commit: item });
    const ref = item.slice(0, eq);
    if (out[ref] !== undefined) throw new UsageError(`--commit names '${ref}' twice`, { ref });
    out[ref] = item.slice(eq + 1);
  }
  return out;
}

function installationFlag(args: SourceArgs): string {
  if (args.user) return '--user ';
  if (args.system) return '--system ';
  if (args.installation) return `--installation=${args.installation} `;
  // flatpak has no flag for an installation by path; its user installation can be pointed anywhere.
  if (args['installation-dir']) return `--user `;
  return '';
}

async function readText(file: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch {
    throw new UsageError(`cannot read key file '${file}'`, { path: file });
  }
}

function render(out: Output, r: CreateResult): void {
  out.info(r.dryRun ? `Would copy to ${r.repo}:` : `Drive repo: ${r.repo}`);
  for (const ref of r.refs) {
    const extra = ref.partial ? ` (partial: ${Array.isArray(ref.languages) ? ref.languages.join(',') : (ref.subpaths ?? []).join(',')})` : '';
    out.info(`  ${ref.change.padEnd(9)} ${ref.collectionId} ${ref.ref} ${ref.commit.slice(0, 12)} [${ref.reason}]${extra}`);
  }
  if (r.dryRun) return;
  out.info(`Objects: ${r.objects.copied} copied (${formatBytes(r.objects.bytes)}), ${r.objects.skipped} already there (on the drive, or shared with a ref copied before)`);
  for (const [cid, up] of Object.entries(r.upstream))
    out.info(`Upstream summary ${cid}: ${up ? `${up.root}, ${up.files} files, signed by ${up.signedBy.join('+') || 'nobody (allowed)'}` : 'not available'}`);
  for (const [cid, c] of Object.entries(r.metadataCommits)) out.info(`ostree-metadata ${cid}: ${c.slice(0, 12)}`);
  if (r.summary?.signed) out.info('Summary signed (ed25519)');
}
