/** `sideload create DRIVE REF…` (alias `create-usb`): parse, open the source, call createDrive, render. */
import type { CommandModule } from 'yargs';
import { UsageError } from '../../errors.js';
import type { CreateOptions, CreateResult, DriveRef, RunSource } from '../../usb/create.js';
import type { LockSource, ManifestSource, MediaOptions } from '../../usb/manifest.js';
import type { Source } from '../../usb/source.js';
import { openSourceFromArgs, sourceOptions, type SourceArgs } from '../source-args.js';
import type { InstallationLocation } from '../../flatpak/installation.js';
import { EXTENSION_POLICIES } from '../../flatpak/resolve-types.js';
import { shellWord } from '../../usb/drive-guide.js';
import { signKeyOption, writeOptions, writeSettings, type WriteArgs } from '../write-options.js';
import { createProgress } from '../progress.js';
import { retryNotes } from '../retry-notes.js';
import { terminalSafe, type Output } from '../output.js';
import { DRIVE, outputFor, type DriveArgs } from '../common-options.js';
import { writingRun } from '../run-state.js';
import { renderRun } from '../render-plan.js';
import { examplesEpilog } from '../help.js';
import { createRefJson } from '../json.js';
import { closeAll, hasSourceArgs, openSpecs } from '../run-sources.js';
import { readTextFile } from '../input-file.js';

interface CreateArgs extends SourceArgs, WriteArgs, DriveArgs {
  refs?: string[];
  manifest?: string;
  lock?: string;
  app?: boolean;
  runtime?: boolean;
  arch?: string[];
  locales?: string;
  extensions?: 'auto' | 'all' | 'locale' | 'none';
  'include-sdk'?: boolean;
  'allow-partial'?: boolean;
  'allow-downgrade'?: boolean;
  'compression-level'?: number;
  commit?: string[];
  'allow-unsigned-commits'?: boolean;
}

export function createCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, CreateArgs> {
  return {
    command: 'create <drive> [refs..]',
    aliases: ['create-usb'],
    describe: 'Copy apps and runtimes (with their runtime, locales and extensions) onto a drive',
    builder: (y) =>
      writeOptions(sourceOptions(y), {
        upstream: 'Carry the signed upstream summary (use --no-upstream-summary to leave it off)',
        dryRun: 'Plan and run every check (signatures, writability, free space), write nothing; --json prints the plan',
      })
        .positional('drive', DRIVE)
        .positional('refs', {
          type: 'string',
          array: true,
          default: undefined,
          describe:
            'Apps/runtimes to copy: org.example.App, org.example.App//stable, app/ID/ARCH/BRANCH, runtime/… ' +
            '(none with --manifest/--lock)',
        })
        .option('manifest', {
          type: 'string',
          describe: 'A YAML manifest naming sources, refs and options (flags override it); see examples/media.yaml',
        })
        .option('lock', {
          type: 'string',
          describe: 'A lockfile from `sideload lock`: copy exactly the commits it pins',
        })
        .option('destination-repo', {
          type: 'string',
          describe: 'Repo path inside the drive (default .ostree/repo; installer payloads use flatpak/repo)',
        })
        .option('app', { type: 'boolean', describe: 'Match partial refs against apps only' })
        .option('runtime', { type: 'boolean', describe: 'Match partial refs against runtimes only' })
        .option('arch', {
          type: 'string',
          array: true,
          describe: 'Arch for partial refs; repeat for several arches on one drive',
        })
        .option('locales', {
          type: 'string',
          describe:
            'Languages of Locale extensions, comma-separated (e.g. de,fr), or all; default all (installation: ' +
            "the installed ones); overrides a manifest's locales",
        })
        .option('extensions', {
          choices: EXTENSION_POLICIES,
          describe:
            'Related extensions to copy (default auto): auto = Locale + what clients download by default (GL ' +
            '.default), all = every one in the source',
        })
        .option('include-sdk', { type: 'boolean', describe: "Also copy each app's SDK" })
        .option('allow-partial', { type: 'boolean', describe: 'Do not warn about partially installed refs' })
        .option('allow-downgrade', {
          type: 'boolean',
          describe: 'Allow replacing a ref on the drive by an older commit',
        })
        .option('compression-level', {
          type: 'number',
          describe:
            'Deflate level for files compressed from an installation (0-9; default: as small as ostree makes them, ' +
            "zlib's 6, or 5 with libdeflate, used when installed); data that is already compressed is stored at any level",
        })
        .option('allow-unsigned-commits', {
          type: 'boolean',
          describe:
            "Copy commits that are unsigned or signed by an untrusted key even when the source's keys are known " +
            '(refused by default, exit 5)',
        })
        .option('commit', {
          type: 'string',
          array: true,
          describe:
            'REF=CHECKSUM: copy this commit of REF instead of the current one (repeatable; REF in full or as given)',
        })
        .epilog(
          examplesEpilog([
            [
              'An installed app with its runtime and locales (like flatpak create-usb)',
              'sideload create /run/media/me/USB org.gnome.Maps',
            ],
            [
              'From a local GPG-signed repo, two arches on one drive',
              'sideload create --repo ./repo --gpg-import repo.gpg --arch x86_64 --arch aarch64 /mnt/usb ' +
                'org.example.App',
            ],
            [
              'Straight from a remote, nothing installed',
              'sideload create --url https://dl.flathub.org/repo --collection-id org.flathub.Stable --gpg-import ' +
                'flathub.gpg /mnt/usb org.gnome.Maps',
            ],
            [
              'A Fedora-style installer payload (the repo at flatpak/repo)',
              'sideload create --repo ./repo --gpg-import repo.gpg --destination-repo flatpak/repo ./iso-root ' +
                'org.example.App',
            ],
            ['Show the plan as JSON, write nothing', 'sideload create --dry-run --json /mnt/usb org.gnome.Maps'],
            ['Sources, refs and options from a manifest', 'sideload create --manifest media.yaml /mnt/usb'],
            ['Exactly the commits a lockfile pins', 'sideload create --lock media.lock /mnt/usb'],
            [
              'Re-hash every object on the drive and copy missing or corrupt ones again',
              'sideload create --repair --repo ./repo --gpg-import repo.gpg /mnt/usb org.example.App',
            ],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('create', args);
      const compression = args['compression-level'];
      if (compression !== undefined && (!Number.isInteger(compression) || compression < 0 || compression > 9))
        throw new UsageError(`--compression-level must be 0-9, got ${compression}`);
      if (args.app && args.runtime) throw new UsageError('--app and --runtime exclude each other');
      for (const [opt, v] of [
        ['--manifest', args.manifest],
        ['--lock', args.lock],
      ] as const)
        if (v === '') throw new UsageError(`${opt} is given an empty string: give its path, or - for stdin`);
      if (args.manifest && args.lock)
        throw new UsageError('--manifest and --lock exclude each other: a lockfile already names its sources');
      args.refs = (args.refs ?? []).filter((r): r is string => typeof r === 'string' && r !== '');
      if ((args.manifest || args.lock) && (args.refs?.length || hasSourceArgs(args)))
        throw new UsageError(
          `with ${args.manifest ? '--manifest' : '--lock'}, the sources and refs come from the file: give only ` +
            'the drive',
        );
      // A lockfile is the whole plan: options that shape one would be ignored, so they are refused.
      const planOptions = (
        [
          ['locales', args.locales],
          ['arch', args.arch?.length],
          ['extensions', args.extensions],
          ['include-sdk', args['include-sdk']],
          ['commit', args.commit?.length],
          ['app', args.app],
          ['runtime', args.runtime],
        ] as const
      )
        .filter(([, v]) => v)
        .map(([k]) => `--${k}`);
      if (args.lock && planOptions.length)
        throw new UsageError(
          `with --lock, the refs, commits and languages come from the lockfile: ${planOptions.join(', ')} ` +
            `would be ignored (change the manifest and run 'sideload lock' again)`,
          { options: planOptions },
        );
      if (!args.manifest && !args.lock && !args.refs?.length)
        throw new UsageError('no refs given: name at least one app or runtime (or use --manifest FILE)');
      // The engine loads here, not at startup: --help and the other commands stay fast; the manifest reader (and
      // its YAML parser, whose module set-up took ~5 ms of every create) only with --manifest or --lock.
      const { createDriveFrom } = await import('../../usb/create.js');
      const media = args.manifest
        ? (await import('../../usb/manifest.js')).parseManifest(
            await readTextFile(args.manifest, 'manifest'),
            args.manifest,
          )
        : args.lock
          ? (await import('../../usb/manifest.js')).parseLockfile(await readTextFile(args.lock, 'lockfile'), args.lock)
          : null;
      const signKeyFile = args['sign-key'] ?? media?.signKey;
      const signKey = await signKeyOption(
        signKeyFile,
        args['sign-key'] ? '--sign-key' : `signKey of ${args.manifest ?? args.lock}`,
      );
      const opts = createOptions(args, media, out, signal, compression, signKey);
      const progress = createProgress(!args.json && !args.quiet && args.progress !== false);
      // HTTP retries that wait a second or more get a note on stderr (none with --quiet).
      const onRetry = args.quiet ? undefined : retryNotes((line) => progress.note(line));
      const sources = media
        ? await openSpecs(media.sources, signal, onRetry)
        : [await openSourceFromArgs(args, signal, onRetry)];
      if ((args as { verbose?: boolean }).verbose && !args.quiet && !args.json)
        for (const s of sources) process.stderr.write(`source: ${terminalSafe(s.description)}\n`);
      let result: CreateResult;
      try {
        const inputs: RunSource[] = media
          ? media.sources.map((s, i) => {
              const source = sources[i] as Source;
              return 'lockVersion' in media
                ? {
                    source,
                    locked: (s as LockSource).refs,
                    pinnedUpstream: { upstream: (s as LockSource).upstream ?? {}, keys: (s as LockSource).keys ?? [] },
                  }
                : {
                    source,
                    refs: (s as ManifestSource).refs,
                    ...(s.collectionId ? { collectionId: s.collectionId } : {}),
                  };
            })
          : [
              {
                source: sources[0] as Source,
                refs: args.refs ?? [],
                ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
              },
            ];
        const first = sources[0] as Source;
        // A failure says which step failed, what the drive holds now and what to do (a full drive, a pending publish).
        result = await writingRun(
          args.drive,
          args['destination-repo'],
          (e) => progress.onProgress(e),
          (onProgress) =>
            createDriveFrom(
              {
                ...opts,
                onProgress,
                remoteFixHint: (remote, cid, installation) =>
                  remoteFixHint(remote, cid, installation ?? first.installation),
              },
              inputs,
            ),
          sources,
        );
      } finally {
        progress.stop();
        await closeAll(sources);
      }
      const shown = { ...result, refs: result.refs.map((r) => withoutAbsentLanguages(r, result)) };
      out.result({ ok: true, ...shown, refs: shown.refs.map(createRefJson) });
      renderRun(out, shown);
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

/** Flags first, then the manifest's or lockfile's media options. */
function createOptions(
  args: CreateArgs,
  media: MediaOptions | null,
  out: Output,
  signal: AbortSignal,
  compression: number | undefined,
  signKey: { signKey?: Uint8Array },
): CreateOptions {
  // A --locales given overrides the file's, `all` included (every language: no list).
  const locales = args.locales ? localesArg(args.locales) : media?.locales;
  const arches = args.arch ?? media?.arches;
  const extensions = args.extensions ?? media?.extensions;
  const dest = args['destination-repo'] ?? media?.destinationRepo;
  return {
    drive: args.drive,
    ...(dest ? { destinationRepo: dest } : {}),
    ...(args.app ? { kinds: ['app'] as const } : args.runtime ? { kinds: ['runtime'] as const } : {}),
    ...(arches ? { arches } : {}),
    ...(locales ? { locales } : {}),
    ...(extensions ? { extensions } : {}),
    ...(args['include-sdk'] || media?.includeSdk ? { includeSdk: true } : {}),
    ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
    allowPartial: !!args['allow-partial'],
    allowDowngrade: !!args['allow-downgrade'],
    ...(args['allow-unsigned-commits'] ? { allowUnsignedCommits: true } : {}),
    ...(args.commit?.length ? { commits: parseCommitArgs(args.commit) } : {}),
    ...writeSettings(args),
    ...signKey,
    ...(compression !== undefined ? { compressionLevel: compression } : {}),
    signal,
    onWarning: (w) => out.warn(w),
  };
}

/** `--locales de,fr` → [de, fr]; `--locales all` → undefined: every language, as `locales: all` in a manifest. */
function localesArg(value: string): string[] | undefined {
  const list = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.includes('all')) return list;
  if (list.length > 1)
    throw new UsageError(`--locales '${value}': 'all' stands alone (every language), or name the languages`, {
      locales: value,
    });
  return undefined;
}

/** A Locale ref's languages as they are on the drive: without those asked for that the source does not have. */
function withoutAbsentLanguages(ref: DriveRef, r: CreateResult): DriveRef {
  if (!Array.isArray(ref.languages)) return ref;
  const absent = new Set(
    r.warnings
      .filter((w) => w.code === 'partial-locale' && w.data?.['ref'] === ref.ref)
      .flatMap((w) => (w.data?.['notInSource'] as string[] | undefined) ?? []),
  );
  return absent.size ? { ...ref, languages: ref.languages.filter((l) => !absent.has(l)) } : ref;
}

/**
 * The command that gives `remote` of installation `inst` a collection ID (`cid` when its commits are bound to one),
 * each word shell-quoted to paste.
 */
export function remoteFixHint(remote: string, cid: string | undefined, inst: InstallationLocation | undefined): string {
  return (
    `${flatpakFor(inst)} remote-modify --collection-id=${cid ? shellWord(cid) : '<COLLECTION-ID>'} ` +
    shellWord(remote) +
    (cid ? ' (the collection its commits are bound to)' : '')
  );
}

/**
 * The `flatpak` command line that acts on the installation a source read (the one it picked when several were in
 * scope): `--user`, `--system`, `--installation=NAME`, or for a root given by path, the user installation pointed
 * there (flatpak has no flag for a path).
 */
function flatpakFor(inst: InstallationLocation | undefined): string {
  switch (inst?.kind) {
    case 'user':
      return 'flatpak --user';
    case 'system':
      return 'flatpak --system';
    case 'named':
      return `flatpak --installation=${shellWord(inst.name)}`;
    case 'dir':
      return `FLATPAK_USER_DIR=${shellWord(inst.root)} flatpak --user`;
    default:
      return 'flatpak';
  }
}
