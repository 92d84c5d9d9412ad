/** `sideload verify DRIVE`: check a drive without trusting it; exit 0 only for a good drive. */
import type { CommandModule } from 'yargs';
import { ExitCode } from '../../errors.js';
import { createProgress } from '../progress.js';
import { Output } from '../output.js';

interface VerifyArgs {
  drive: string;
  'trusted-key'?: string[];
  'upstream-gpg'?: string[];
  'upstream-key'?: string[];
  quick?: boolean;
  repair?: boolean;
  json?: boolean;
}

export function verifyCommand(setCode: (c: number) => void): CommandModule<object, VerifyArgs> {
  return {
    command: 'verify <drive>',
    describe: 'Check a drive: objects re-hashed, refs complete, summary/refs/ostree-metadata agree, signatures',
    builder: (y) =>
      y
        .positional('drive', { type: 'string', demandOption: true })
        .option('trusted-key', { type: 'string', array: true, describe: 'ed25519 public key file the drive must be signed with' })
        .option('upstream-gpg', { type: 'string', array: true, describe: 'OpenPGP keyring to check the carried upstream summaries' })
        .option('upstream-key', { type: 'string', array: true, describe: 'ed25519 public key file to check the carried upstream summaries' })
        .option('quick', { type: 'boolean', describe: 'Skip re-hashing every object' })
        .option('repair', { type: 'boolean', describe: 'First finish an update that was interrupted while publishing (the only write verify makes)' })
        .option('json', { type: 'boolean', describe: 'Print JSON' })
        .example('$0 verify /run/media/me/USB', '')
        .example('$0 verify --trusted-key drive.pub --upstream-gpg flathub.gpg /mnt/usb', '') as never,
    handler: async (args) => {
      const out = new Output({ json: !!args.json });
      const [{ readPublicKeyFile, readGpgKeyFile }, { verifyDrive }] = await Promise.all([import('../../sign/key-files.js'), import('../../usb/verify.js')]);
      const trusted = [];
      for (const f of args['trusted-key'] ?? []) trusted.push(...(await readPublicKeyFile(f, '--trusted-key')));
      const upEd = [];
      for (const f of args['upstream-key'] ?? []) upEd.push(...(await readPublicKeyFile(f, '--upstream-key')));
      const upGpg = [];
      for (const f of args['upstream-gpg'] ?? []) upGpg.push(await readGpgKeyFile(f, '--upstream-gpg'));
      const progress = createProgress(!args.json);
      let report;
      try {
        report = await verifyDrive(args.drive, { trustedKeys: trusted, upstreamGpg: upGpg, upstreamEd25519: upEd, quick: !!args.quick, repair: !!args.repair, onProgress: (e) => progress.onProgress(e) });
      } finally {
        progress.stop();
      }
      out.result(report);
      for (const r of report.repos) {
        out.info(`${r.ok ? 'OK  ' : 'FAIL'} ${r.repo}: ${r.refs} refs, ${r.objects} objects, collections ${r.collections.join(', ') || '(none)'}`);
        for (const f of r.findings) out.info(`  ${f.severity}: ${f.message}${f.path ? ` [${f.path}]` : ''}`);
      }
      setCode(report.ok ? ExitCode.ok : ExitCode.verifyFailed);
    },
  };
}
