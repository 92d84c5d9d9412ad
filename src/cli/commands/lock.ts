/** `sideload lock MANIFEST -o FILE`: resolve a manifest to exact commits, write the lockfile; no drive is touched. */
import type { CommandModule } from 'yargs';
import { examplesEpilog } from '../help.js';
import { outputFor, QUIET, type OutputArgs } from '../common-options.js';
import { closeAll, openSpecs } from '../run-sources.js';
import { retryNotes } from '../retry-notes.js';
import { readTextFile } from '../input-file.js';
import { STRICT_DESCRIPTION, upstreamPolicy } from '../write-options.js';
import type { Warning } from '../../warnings.js';

interface LockArgs extends OutputArgs {
  manifest: string;
  output?: string;
  'upstream-summary'?: boolean;
  'allow-unsigned-upstream'?: boolean;
  strict?: boolean;
}

export function lockCommand(signal: AbortSignal, setCode: (c: number) => void): CommandModule<object, LockArgs> {
  return {
    command: 'lock <manifest>',
    describe: 'Resolve a manifest to exact commits (every ref, its runtime and extensions) and write a lockfile',
    builder: (y) =>
      y
        .positional('manifest', {
          type: 'string',
          demandOption: true,
          describe: 'The YAML manifest (see examples/media.yaml)',
        })
        .option('output', {
          alias: 'o',
          type: 'string',
          describe: 'Lockfile to write (default: the manifest name with .lock; - for stdout)',
        })
        .option('upstream-summary', {
          type: 'boolean',
          default: true,
          describe: 'Check and pin the upstream summary digest (--no-upstream-summary to skip)',
        })
        .option('allow-unsigned-upstream', { type: 'boolean', describe: 'Accept an unsigned upstream summary' })
        .option('strict', { type: 'boolean', describe: STRICT_DESCRIPTION })
        .option('json', { type: 'boolean', describe: 'Print the lock as JSON' })
        .option('quiet', QUIET)
        .epilog(
          examplesEpilog([
            ['Pin the commits the manifest resolves to today', 'sideload lock media.yaml -o media.lock'],
            ['Later: copy exactly those commits', 'sideload create --lock media.lock /mnt/usb'],
          ]),
        ) as never,
    handler: async (args) => {
      const out = outputFor('lock', args);
      const [{ parseManifest, printLockfile }, { lockManifest }, fs] = await Promise.all([
        import('../../usb/manifest.js'),
        import('../../usb/lock.js'),
        import('fs-extra'),
      ]);
      const manifest = parseManifest(await readTextFile(args.manifest, 'manifest'), args.manifest);
      const file = args.output ?? args.manifest.replace(/\.(ya?ml|json)$/i, '') + '.lock';
      const onRetry = args.quiet ? undefined : retryNotes((line) => void process.stderr.write(`${line}\n`));
      const sources = await openSpecs(manifest.sources, signal, onRetry);
      try {
        const warnings: Warning[] = [];
        const lock = await lockManifest(manifest, sources, {
          upstream: upstreamPolicy(args),
          strict: !!args.strict,
          onWarning: (w) => {
            warnings.push(w);
            out.warn(w);
          },
          signal,
        });
        const text = printLockfile(lock, file === '-' ? null : file);
        // With --json, stdout holds one JSON document: the text of a lockfile for stdout goes in it (`text`).
        if (file !== '-') await fs.default.outputFile(file, text);
        else if (!args.json) process.stdout.write(text);
        out.result({ ok: true, lockfile: file, lock, ...(file === '-' ? { text } : {}), warnings });
        const n = lock.sources.reduce((a, s) => a + s.refs.length, 0);
        if (file !== '-') out.info(`Locked ${n} refs from ${lock.sources.length} source(s) in ${file}`);
      } finally {
        await closeAll(sources);
      }
      setCode(0);
    },
  };
}
