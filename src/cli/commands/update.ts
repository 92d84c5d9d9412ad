/** `sideload update DRIVE`: move every ref on the drive to its source's newest commit (refresh the stick). */
import type { CommandModule } from 'yargs';
import { Output } from '../output.js';
import { examplesEpilog } from '../help.js';
import { createProgress } from '../progress.js';
import { renderRun } from '../render-plan.js';
import { openSourceFromArgs, sourceOptions, type SourceArgs } from '../source-args.js';
import { readTextFile } from '../run-sources.js';

interface UpdateArgs extends SourceArgs {
  drive: string;
  'destination-repo'?: string;
  'allow-downgrade'?: boolean;
  'sign-key'?: string;
  'upstream-summary'?: boolean;
  'allow-unsigned-upstream'?: boolean;
  'dry-run'?: boolean;
  fsync?: boolean;
  strict?: boolean;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
}

export function updateCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, UpdateArgs> {
  return {
    command: 'update <drive>',
    describe: "Move every ref on a drive to its source's newest commit (and add runtimes updated apps need)",
    builder: (y) =>
      sourceOptions(y)
        .positional('drive', { type: 'string', demandOption: true, describe: 'The drive (mount) directory' })
        .option('destination-repo', { type: 'string', describe: 'Repo path inside the drive (default .ostree/repo)' })
        .option('allow-downgrade', { type: 'boolean', describe: 'Allow replacing a ref by an older commit' })
        .option('sign-key', { type: 'string', describe: 'ed25519 secret key file to sign the summary and ostree-metadata commits' })
        .option('upstream-summary', { type: 'boolean', default: true, describe: 'Refresh the carried upstream summary (--no-upstream-summary keeps the old copy)' })
        .option('allow-unsigned-upstream', { type: 'boolean', describe: 'Carry an upstream summary even if it is unsigned' })
        .option('dry-run', { type: 'boolean', describe: 'Show what would change and run every check; write nothing' })
        .option('fsync', { type: 'boolean', default: true, describe: 'fsync written data (--no-fsync for throwaway targets)' })
        .option('strict', { type: 'boolean', describe: 'Treat warnings as errors' })
        .option('json', { type: 'boolean', describe: 'Print the result as JSON' })
        .option('quiet', { alias: 'q', type: 'boolean', describe: 'Print nothing but errors' })
        .option('progress', { type: 'boolean', default: true, describe: 'Show progress bars on a terminal' })
        .epilog(
          examplesEpilog([
            ["Refresh a drive from a local repo signed with repo.gpg's key", 'sideload update --repo ./repo --gpg-import repo.gpg /mnt/usb'],
            ['What would change', 'sideload update --dry-run --url https://dl.flathub.org/repo --collection-id org.flathub.Stable /mnt/usb'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = new Output({ json: !!args.json, quiet: !!args.quiet, command: 'update' });
      const [{ updateDrive }, { loadSecretKey }] = await Promise.all([import('../../usb/create.js'), import('../../sign/index.js')]);
      const signKey = args['sign-key'] ? loadSecretKey(await readTextFile(args['sign-key'], 'key file'), args['sign-key']) : undefined;
      const progress = createProgress(!args.json && !args.quiet && args.progress !== false);
      const source = await openSourceFromArgs(args, signal);
      try {
        const result = await updateDrive(
          {
            drive: args.drive,
            ...(args['destination-repo'] ? { destinationRepo: args['destination-repo'] } : {}),
            ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
            allowDowngrade: !!args['allow-downgrade'],
            strict: !!args.strict,
            upstream: args['upstream-summary'] === false ? 'skip' : args['allow-unsigned-upstream'] ? 'allow-unsigned' : 'require-signature',
            ...(signKey ? { signKey } : {}),
            dryRun: !!args['dry-run'],
            fsync: args.fsync !== false,
            signal,
            onProgress: (e) => progress.onProgress(e),
            onWarning: (w) => out.warn(w),
          },
          source,
        );
        progress.stop();
        out.result({ ok: true, ...result });
        renderRun(out, result);
      } finally {
        progress.stop();
        await source.close();
      }
      setCode(0);
    },
  };
}
