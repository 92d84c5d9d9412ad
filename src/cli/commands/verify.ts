/** `sideload verify DRIVE`: check a drive without trusting it; exit 0 only for a good drive. */
import type { CommandModule } from 'yargs';
import { ExitCode } from '../../errors.js';
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
          describe: 'OpenPGP keyring/key file of the upstream, to check the carried upstream summaries',
        })
        .option('upstream-key', {
          type: 'string',
          array: true,
          describe: 'ed25519 public key file of the upstream, to check the carried upstream summaries',
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
      const upEd = [];
      for (const f of args['upstream-key'] ?? []) upEd.push(...(await readPublicKeyFile(f, '--upstream-key')));
      const upGpg = [];
      for (const f of args['gpg-import'] ?? []) upGpg.push(await readGpgKeyFile(f, '--gpg-import'));
      for (const f of args['upstream-gpg'] ?? []) upGpg.push(await readGpgKeyFile(f, '--upstream-gpg'));
      const progress = createProgress(!args.json && !args.quiet);
      let report;
      try {
        report = await verifyDrive(args.drive, {
          trustedKeys: trusted,
          upstreamGpg: upGpg,
          upstreamEd25519: upEd,
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
