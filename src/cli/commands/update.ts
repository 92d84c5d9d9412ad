/** `sideload update DRIVE`: move every ref on the drive to its source's newest commit (refresh the stick). */
import type { CommandModule } from 'yargs';
import { examplesEpilog } from '../help.js';
import { destinationRepo, driveOptions, hintWords, outputFor, type DriveArgs } from '../common-options.js';
import { createProgress } from '../progress.js';
import { retryNotes } from '../retry-notes.js';
import { renderRun } from '../render-plan.js';
import { writingRun } from '../run-state.js';
import { openSourceFromArgs, sourceOptions, type SourceArgs } from '../source-args.js';
import { signKeyOption, writeOptions, writeSettings, type WriteArgs } from '../write-options.js';

interface UpdateArgs extends SourceArgs, WriteArgs, DriveArgs {
  'allow-downgrade'?: boolean;
}

export function updateCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, UpdateArgs> {
  return {
    command: 'update <drive>',
    describe: "Move every ref on a drive to its source's newest commit (and add runtimes updated apps need)",
    builder: (y) =>
      driveOptions(
        writeOptions(sourceOptions(y), {
          upstream: 'Refresh the carried upstream summary (--no-upstream-summary keeps the old copy)',
          dryRun: 'Show what would change and run every check; write nothing',
        }),
      )
        .option('allow-downgrade', { type: 'boolean', describe: 'Allow replacing a ref by an older commit' })
        .epilog(
          examplesEpilog([
            [
              "Refresh a drive from a local repo signed with repo.gpg's key",
              'sideload update --repo ./repo --gpg-import repo.gpg /mnt/usb',
            ],
            [
              'Also mend objects the drive lost or that are damaged (every one re-hashed)',
              'sideload update --repair --repo ./repo --gpg-import repo.gpg /mnt/usb',
            ],
            [
              'What would change',
              'sideload update --dry-run --url https://dl.flathub.org/repo --collection-id org.flathub.Stable ' +
                '--gpg-import flathub.gpg /mnt/usb',
            ],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('update', args);
      const [{ updateDrive }, signKey] = await Promise.all([
        import('../../usb/update.js'),
        signKeyOption(args['sign-key']),
      ]);
      const progress = createProgress(!args.json && !args.quiet && args.progress !== false);
      // From the flatpak installations (no other source named), the drive's apps choose the installation to read,
      // as the refs on create's command line do: the one they are installed in.
      const installation = !(args.repo || args.url || args.from || args.remote);
      const refs = installation ? await driveApps(args.drive, args['destination-repo']) : [];
      const onRetry = args.quiet ? undefined : retryNotes((line) => progress.note(line));
      const source = await openSourceFromArgs({ ...args, refs } as SourceArgs, signal, onRetry);
      try {
        const result = await writingRun(
          args.drive,
          args['destination-repo'],
          (e) => progress.onProgress(e),
          (onProgress) =>
            updateDrive(
              {
                drive: args.drive,
                ...destinationRepo(args),
                ...(args['collection-id'] ? { collectionId: args['collection-id'] } : {}),
                allowDowngrade: !!args['allow-downgrade'],
                ...writeSettings(args),
                ...signKey,
                signal,
                onProgress,
                onWarning: (w) => out.warn(w),
              },
              source,
            ),
          [source],
        );
        progress.stop();
        out.result({ ok: true, ...result });
        renderRun(out, result);
        // The commits the updated refs left stay on the drive (clients ignore them) until prune, as after remove.
        if (!result.dryRun && result.refs.some((r) => r.change === 'updated')) {
          const { flag, drive } = await hintWords(args, result.repo);
          out.info(`Run 'sideload prune${flag} ${drive}' to free the space the replaced commits take.`);
        }
      } finally {
        progress.stop();
        await source.close();
      }
      setCode(0);
    },
  };
}

/** The app refs on a drive (none when it has no repo yet: updateDrive says so). */
async function driveApps(drive: string, destinationRepo?: string): Promise<string[]> {
  const [{ locateDrive }, { driveAppRefs }] = await Promise.all([
    import('../../usb/drive.js'),
    import('../../usb/drive-state.js'),
  ]);
  return driveAppRefs((await locateDrive(drive, destinationRepo)).repo);
}
