/** `sideload verify DRIVE`: check a drive without trusting it; exit 0 only for a good drive. */
import type { CommandModule } from 'yargs';
import { ExitCode } from '../../errors.js';
import { isValidCollectionId } from '../../repo/refs.js';
import { createProgress } from '../progress.js';
import { examplesEpilog } from '../help.js';
import { JSON_DOCUMENT, outputFor, QUIET, type OutputArgs } from '../common-options.js';

interface VerifyArgs extends OutputArgs {
  drive: string;
  'drive-key'?: string[];
  'gpg-import'?: string[];
  'trusted-key'?: string[];
  'upstream-gpg'?: string[];
  'upstream-key'?: string[];
  quick?: boolean;
  repair?: boolean;
  strict?: boolean;
}

export function verifyCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, VerifyArgs> {
  return {
    command: 'verify <drive>',
    describe: 'Check a drive: objects re-hashed, refs complete, summary/refs/ostree-metadata agree, signatures',
    builder: (y) =>
      y
        .positional('drive', {
          type: 'string',
          demandOption: true,
          describe: 'The drive (mount) directory, or a repo on it',
        })
        .option('drive-key', {
          type: 'string',
          array: true,
          describe: "ed25519 public key file (keygen's FILE.pub) the drive must be signed with",
        })
        .option('gpg-import', {
          type: 'string',
          array: true,
          describe:
            'OpenPGP keyring/key file of the upstream, to check the carried upstream summaries and commits: FILE for ' +
            'every collection, COLLECTION_ID=FILE for that collection only',
        })
        .option('upstream-key', {
          type: 'string',
          array: true,
          describe:
            'ed25519 public key file of the upstream, to check the carried upstream summaries and commits: FILE ' +
            'or COLLECTION_ID=FILE, as --gpg-import',
        })
        // Earlier spellings, kept working: --trusted-key (the drive key), --upstream-gpg (the upstream GPG key).
        .option('trusted-key', { type: 'string', array: true, hidden: true })
        .option('upstream-gpg', { type: 'string', array: true, hidden: true })
        .option('quick', { type: 'boolean', describe: 'Skip re-hashing every object' })
        .option('repair', {
          type: 'boolean',
          describe: 'First finish an update that was interrupted while publishing (the only write verify makes)',
        })
        .option('strict', {
          type: 'boolean',
          describe: 'Warnings fail too: exit 6 unless there is no finding at all',
        })
        .option('json', JSON_DOCUMENT)
        .option('quiet', QUIET)
        .epilog(
          examplesEpilog([
            ['Check every object, ref and the summary of a drive', 'sideload verify /run/media/me/USB'],
            [
              'Also require the drive signature and check the upstream copy',
              'sideload verify --drive-key drive.key.pub --gpg-import flathub.gpg /mnt/usb',
            ],
            [
              'A drive of two upstreams: each collection checked with its own key',
              'sideload verify --gpg-import org.flathub.Stable=flathub.gpg --gpg-import org.example.Stable=example.gpg ' +
                '/mnt/usb',
            ],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('verify', args);
      const [{ readPublicKeyFile, readGpgKeyFile }, { verifyDrive }] = await Promise.all([
        import('../../sign/key-files.js'),
        import('../../usb/verify.js'),
      ]);
      const trusted = [];
      for (const f of args['drive-key'] ?? []) trusted.push(...(await readPublicKeyFile(f, '--drive-key')));
      for (const f of args['trusted-key'] ?? []) trusted.push(...(await readPublicKeyFile(f, '--trusted-key')));
      // FILE: keys for every collection; COLLECTION_ID=FILE: for that collection alone (a drive of two upstreams).
      type Keys = { upstreamGpg: Uint8Array[]; upstreamEd25519: Uint8Array[] };
      const every: Keys = { upstreamGpg: [], upstreamEd25519: [] };
      const collectionKeys: Record<string, Keys> = Object.create(null);
      const into = (cid: string | null): Keys =>
        cid === null ? every : (collectionKeys[cid] ??= { upstreamGpg: [], upstreamEd25519: [] });
      for (const [option, kind] of [
        ['upstream-key', 'upstreamEd25519'],
        ['gpg-import', 'upstreamGpg'],
        ['upstream-gpg', 'upstreamGpg'],
      ] as const)
        for (const arg of args[option] ?? []) {
          const { collectionId, file } = collectionKeyArg(arg);
          const keys =
            kind === 'upstreamGpg'
              ? [await readGpgKeyFile(file, `--${option}`)]
              : await readPublicKeyFile(file, `--${option}`);
          into(collectionId)[kind].push(...keys);
        }
      const progress = createProgress(!args.json && !args.quiet);
      let report;
      try {
        report = await verifyDrive(args.drive, {
          trustedKeys: trusted,
          ...every,
          collectionKeys,
          quick: !!args.quick,
          repair: !!args.repair,
          strict: !!args.strict,
          signal,
          onProgress: (e) => progress.onProgress(e),
        });
      } finally {
        progress.stop();
      }
      out.result({ ...report });
      for (const r of report.repos) {
        if (r.resumedPublish)
          out.info(
            `Finished the publish an interrupted run had left pending in ${r.repo}: clients now see what that run ` +
              'meant to write.',
          );
        out.info(
          // The refs apps and runtimes come from (as list and create count them); each collection's
          // ostree-metadata is checked too, and named, not counted as one of them.
          `${r.ok ? 'OK  ' : 'FAIL'} ${r.repo}: ${r.flatpakRefs} refs` +
            `${r.refs > r.flatpakRefs ? ' + ostree-metadata' : ''}, ${r.objects} objects, collections ` +
            `${r.collections.join(', ') || '(none)'}`,
        );
        for (const f of r.findings) out.info(`  ${f.severity}: ${f.message}${f.path ? ` [${f.path}]` : ''}`);
      }
      setCode(report.ok ? ExitCode.ok : ExitCode.verifyFailed);
    },
  };
}

/**
 * `COLLECTION_ID=FILE` or a plain `FILE`. What comes before the first `=` is a collection ID only when it is a
 * valid one (dotted names, no `/`): `./a=b.gpg` and `keys=1.gpg` are files.
 */
export function collectionKeyArg(arg: string): { collectionId: string | null; file: string } {
  const eq = arg.indexOf('=');
  const cid = eq > 0 ? arg.slice(0, eq) : '';
  return cid && isValidCollectionId(cid) && eq < arg.length - 1
    ? { collectionId: cid, file: arg.slice(eq + 1) }
    : { collectionId: null, file: arg };
}
