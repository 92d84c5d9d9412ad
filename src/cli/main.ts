#!/bin/sh
':' + '"\''; /* eslint-disable-line @typescript-eslint/no-unused-expressions */ // '; exec /usr/bin/env -u NODE_EXTRA_CA_CERTS SIDELOAD_EXTRA_CA_CERTS="$NODE_EXTRA_CA_CERTS" MALLOC_MMAP_THRESHOLD_=131072 node --max-semi-space-size=2 "$0" "$@"
/**
 * (The two lines above are both shell and JavaScript: run as a program, /bin/sh starts node with what cannot be set
 * from inside a running process: V8's young generation at 2 MiB (see src/cli/heap.ts) and glibc's mmap threshold
 * fixed at its initial 128 KiB, so that buffers of 128 KiB and more go back to the system when freed instead of
 * fragmenting the threads' malloc arenas (glibc otherwise raises the threshold to the largest block freed so far;
 * peak RSS over HTTP 0.93x, docs/benchmark.md; other C libraries ignore the variable). And it keeps
 * NODE_EXTRA_CA_CERTS from node, which would parse that file before running any JavaScript (a system bundle of ~150
 * certificates: `--version` and a re-run with nothing new took ~40 ms longer): it goes in as SIDELOAD_EXTRA_CA_CERTS,
 * launch.ts puts it back for child processes, and HTTPS reads the file on its first connection
 * (transport/extra-ca.ts). `env -u` is in GNU coreutils, busybox and the BSDs.
 * To the shell the second line is `: + '"\; … '` (the no-op builtin, its arguments quoted) and then `exec`; to
 * JavaScript an unused string expression and comments. The shell forks nothing before the exec (the line was
 * `//bin/true; exec …`, which ran /bin/true: 4-6 ms of CPU a start); prettier puts a `;` after the classic `":" //; exec …`,
 * where the shell then runs `//`. This works with any POSIX sh, where `#!/usr/bin/env -S` would need GNU coreutils
 * 8.30 and fails with busybox.)
 *
 * The `sideload` command: a yargs root over one thin module per command. The only place that maps errors to
 * exit codes (reportError) and turns Ctrl-C into a clean abort.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import yargs, { type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ExitCode, UsageError } from '../errors.js';
import { deferExtraCaCerts } from '../transport/extra-ca.js';
import { createCommand } from './commands/create.js';
import { listCommand } from './commands/list.js';
import { verifyCommand } from './commands/verify.js';
import { keygenCommand } from './commands/keygen.js';
import { dumpCommand } from './commands/dump.js';
import { lockCommand } from './commands/lock.js';
import { updateCommand } from './commands/update.js';
import { removeCommand } from './commands/remove.js';
import { pruneCommand } from './commands/prune.js';
import { reportError } from './output.js';
import { runState } from './run-state.js';
import { onHangup } from './hangup.js';
import {
  extraArgumentsMessage,
  missingArgumentsMessage,
  unknownCommandMessage,
  unknownOptions,
  unknownOptionsMessage,
  type KnownOptions,
} from './usage-errors.js';
import { completeWord, completionCommand, type CompletionFallback } from './completion.js';

/**
 * The version in our own package.json (dist/cli/sideload.cjs → ../../package.json, where npm installs it too). yargs'
 * own guess starts from the directory holding node_modules and, when that directory's name has a dot in it
 * (`~/src/sideload-0.1`, mktemp's `tmp.XXXX`), looks one level too high and prints "unknown".
 */
function ownVersion(): string {
  try {
    return (
      (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string })
        .version ?? 'unknown'
    );
  } catch {
    return 'unknown';
  }
}

/** The commands, as `sideload <command> --help` takes them. */
const COMMANDS = ['create', 'lock', 'update', 'remove', 'prune', 'list', 'verify', 'keygen', 'dump', 'completion'];

/** What yargs refuses (an unknown option, a missing argument): told with a pointer to --help. */
class CommandLineError extends UsageError {}

export const EPILOG = `Exit codes:
  0  success                         5  missing or bad signature
  1  failure (I/O, internal)         6  verify found problems
  2  bad usage                       7  unsupported input (extra-data, no symlinks)
  3  ref, remote, path not found     8  network failure after retries
  4  corrupt input                   130 interrupted
                                     141 output pipe closed (as ls, git)
Environment (README "Network", "Compression", "GPG checks that passed are remembered"):
  SIDELOAD_HTTP_RETRIES, SIDELOAD_HTTP_BACKOFF_MS, SIDELOAD_HTTP_STALL_MS,
  SIDELOAD_HTTP_TIMEOUT_MS, SIDELOAD_HTTP_CONCURRENCY,
  SIDELOAD_HTTP_RETRY_AFTER_MAX_MS: HTTP sources
  SIDELOAD_DEFLATE=zlib: keep the system's libdeflate out
  SIDELOAD_CACHE_DIR=DIR|off: where passed GPG checks are recorded
    (default ~/.cache/sideload), or off
Docs: README.md`;

/**
 * A closed output pipe (`sideload list D | head -1`) ends the program quietly with 141, the status a shell shows
 * for ls or git killed by SIGPIPE: nothing more can be said on stdout, and no stack trace on stderr. Work already
 * done stands (a `create` whose output was cut wrote the drive before printing). A closed stderr is ignored.
 */
export const EXIT_PIPE = 141;
function quietOnClosedPipe(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(EXIT_PIPE);
    // The terminal was hung up (SIGHUP): what it would show is lost; the run ends with its own exit code.
    if (e.code === 'EIO') return;
    throw e;
  });
  // A terminal closed under a run (EIO after a hangup) or a closed pipe: what stderr would say is lost, the run goes
  // on (a publish must finish).
  process.stderr.on('error', () => {});
}

/** A line on stderr that cannot throw: after a hangup the terminal is gone, and the publish must still finish. */
function tell(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // nothing can be said any more
  }
}

/**
 * The signals that end a run the same way: Ctrl-C, `kill`, and a hangup (the terminal closed, an ssh session
 * dropped). Each gives exit 130 (ExitCode.interrupted); only SIGKILL stops a publish half way.
 */
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** The handler the shipped program's first lines install (launch.ts), under this name on globalThis. */
const EARLY_INTERRUPT = Symbol.for('sideload.earlyInterrupt');
/** NODE_EXTRA_CA_CERTS when the launcher kept it from node (launch.ts), under this name on globalThis. */
const DEFERRED_EXTRA_CA_CERTS = Symbol.for('sideload.deferredExtraCaCerts');

/** The options whose value may be `-` (standard input or output). */
const DASH_VALUED = new Set(['--lock', '--manifest', '--output', '-o']);
/** What a lone `-` word is while yargs parses (see stdinValues). */
const DASH_WORD = '\u0000-';

/**
 * A lone `-` (stdin or stdout) through yargs, which takes it for a flag: `--lock -` would be read as an empty
 * string and the `-` as a stray word, and `lock -` as an empty manifest name. `--lock -` goes in as `--lock=-`,
 * a `-` word as DASH_WORD, which dashWords turns back once parsed.
 */
function stdinValues(argv: readonly string[]): string[] {
  // Shell completion passes the words typed so far: a lone `-` there is the start of an option to complete.
  if (argv[0] === '--get-yargs-completions') return [...argv];
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return [...out, ...argv.slice(i)];
    if (DASH_VALUED.has(a) && argv[i + 1] === '-') {
      out.push(`${a}=-`);
      i++;
    } else out.push(a === '-' ? DASH_WORD : a);
  }
  return out;
}

/** The parsed arguments with each DASH_WORD a `-` again (yargs middleware, before any handler). */
function dashWords(args: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(args)) {
    if (v === DASH_WORD) args[k] = '-';
    else if (Array.isArray(v)) args[k] = v.map((x) => (x === DASH_WORD ? '-' : x));
  }
}

export async function main(argv: string[]): Promise<number> {
  quietOnClosedPipe();
  const extraCaCerts = (globalThis as Record<symbol, unknown>)[DEFERRED_EXTRA_CA_CERTS];
  if (typeof extraCaCerts === 'string') deferExtraCaCerts(extraCaCerts);
  const controller = new AbortController();
  // Ctrl-C reaches every request and object in flight (bounded by the concurrency limits, not a leak).
  setMaxListeners(0, controller.signal);
  let interrupted = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    if (signal === 'SIGHUP') onHangup();
    interrupted++;
    // The journaled publish is not stopped half way (the drive must stay consistent), not even by a second Ctrl-C
    // (a common reflex): it takes seconds, and only SIGKILL ends it (the next run or `verify --repair` finishes it).
    if (runState.phase === 'publish') {
      if (interrupted === 1)
        tell('\nsideload: interrupted during publish; finishing the publish so the drive stays consistent…\n');
      else tell('\nsideload: still finishing the publish (it is not stopped half way)…\n');
      runState.interrupted = true;
      controller.abort();
      return;
    }
    if (interrupted > 1) process.exit(ExitCode.interrupted);
    runState.interrupted = true;
    if (runState.phase === 'prune')
      tell('\nsideload: interrupted, stopping (what was deleted stays deleted; the drive stays valid)…\n');
    else tell('\nsideload: interrupted, stopping (the drive is left as it was)…\n');
    controller.abort();
  };
  // The launcher's handler (launch.ts) answered while the program loaded. A signal that came while node compiled it
  // waits in libuv until the loop polls again: the program runs from the callback of its file read (the poll phase),
  // so a first immediate still fires before that poll and a second after it. Then the signal reaches that handler
  // (nothing was done yet: exit 130 at once), not this one (the run went on, and with the handlers swapped in the
  // same turn it was dropped: exit 0). This one is added before that one goes: a later signal is not dropped with
  // the last listener either.
  const early = (globalThis as Record<symbol, unknown>)[EARLY_INTERRUPT] as
    ((signal: NodeJS.Signals) => void) | undefined;
  if (typeof early === 'function')
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  for (const sig of INTERRUPTS) process.on(sig, onSignal);
  if (typeof early === 'function') for (const sig of INTERRUPTS) process.off(sig, early);
  let code: number = ExitCode.ok;
  const wantsJson = argv.includes('--json');
  const wantsHelp = argv.includes('--help') || argv.includes('-h') || argv.length === 0;
  // The yargs instance of the command being parsed (set when its builder runs): what a flag may be named.
  let parsing: { getOptions(): KnownOptions } | null = null;
  let usage = '';
  const capture = <A>(cmd: CommandModule<object, A>): CommandModule<object, A> => {
    const builder = cmd.builder;
    if (typeof builder !== 'function') return cmd;
    return {
      ...cmd,
      builder: ((y: Argv) => {
        const out = builder(y);
        parsing = y as unknown as { getOptions(): KnownOptions };
        usage = typeof cmd.command === 'string' ? cmd.command : '';
        return out;
      }) as CommandModule<object, A>['builder'],
    };
  };
  const root = yargs(stdinValues(argv));
  try {
    await skipHelpCache(root)
      .scriptName('sideload')
      .parserConfiguration({ 'greedy-arrays': false })
      .middleware(dashWords, true)
      .usage(
        '$0 <command> [options]\n\nAuthor offline Flatpak/OSTree sideload repos: USB drives, install media, OEM ' +
          'preload payloads.',
      )
      .command(capture(createCommand(controller.signal, (c) => (code = c))))
      .command(capture(lockCommand(controller.signal, (c) => (code = c))))
      .command(capture(updateCommand(controller.signal, (c) => (code = c))))
      .command(capture(removeCommand(controller.signal, (c) => (code = c))))
      .command(capture(pruneCommand(controller.signal, (c) => (code = c))))
      .command(capture(listCommand((c) => (code = c))))
      .command(capture(verifyCommand(controller.signal, (c) => (code = c))))
      .command(capture(keygenCommand((c) => (code = c))))
      .command(capture(dumpCommand((c) => (code = c))))
      .command(capture(completionCommand((c) => (code = c))))
      // yargs' own completion command prints its script for `completion --help` and refuses `completion zsh`:
      // registered hidden under another name, only for the `--get-yargs-completions` callback the scripts call.
      .completion(
        '__completion-yargs',
        false,
        (current: string, parsed: Record<string, unknown>, fallback: CompletionFallback, done: (l: string[]) => void) =>
          completeWord(current, parsed, fallback, done),
      )
      .option('verbose', {
        alias: 'v',
        type: 'boolean',
        global: true,
        describe: 'More detail: the source read, warning data, and the stack of internal errors',
      })
      .demandCommand(1, 'name a command: create, lock, update, remove, prune, list, verify, keygen, dump or completion')
      .strict()
      .recommendCommands()
      .epilog(EPILOG)
      // Laying out usage text measures every string (string-width): only worth it when help is printed.
      .wrap(wantsHelp ? Math.min(110, process.stdout.columns || 100) : null)
      .fail((msg, err) => {
        if (err) throw err;
        // A first word that is no command first: the options after it (--json, -q) are the command's, and
        // without one none can be judged ("unknown option --json" for `sideload bogus --json`).
        const word = argv.find((a) => !a.startsWith('-'));
        const noCommand = word && !parsing ? unknownCommandMessage(word, COMMANDS) : null;
        if (noCommand) throw new CommandLineError(noCommand);
        // Then an unknown flag: it may have swallowed the next word, and then yargs' own message is about that.
        const known = (parsing ?? (root as unknown as { getOptions(): KnownOptions })).getOptions();
        const unknown = unknownOptions(argv, known);
        throw new CommandLineError(
          unknown.length
            ? unknownOptionsMessage(unknown, known)
            : (missingArgumentsMessage(msg, usage) ?? extraArgumentsMessage(msg, usage) ?? msg),
        );
      })
      .help()
      .alias('h', 'help')
      .version(ownVersion())
      .parseAsync();
  } catch (e) {
    if (e instanceof CommandLineError) {
      // With --json, a usage error is a JSON error document on stdout like any other (docs/json-schema.md).
      if (wantsJson) code = reportError(e, true, argv);
      else {
        // The command's own help where one was named: its options are what was mistyped.
        const named = argv.find((a) => !a.startsWith('-'));
        const help = parsing && named ? `sideload ${named} --help` : 'sideload --help';
        process.stderr.write(`sideload: ${e.message}\nRun '${help}' for usage.\n`);
        code = ExitCode.usage;
      }
    } else code = reportError(e, wantsJson, argv);
  } finally {
    if (runState.interrupted && code === ExitCode.ok)
      tell(
        'sideload: the interrupt came too late to stop the run: it completed and the drive holds the whole update\n',
      );
    for (const sig of INTERRUPTS) process.off(sig, onSignal);
  }
  return code;
}

/**
 * yargs renders the help text of the command it runs, every time, and keeps it in case the handler asks for it
 * (`cacheHelpMessage` after the handler starts; nothing here asks). Measuring every option's text is ~20 ms of each
 * command's CPU. Through yargs' internal methods, probed: another yargs version just pays the cost.
 */
function skipHelpCache<T>(y: T): T {
  const usage = (y as { getInternalMethods?: () => { getUsageInstance?: () => unknown } })
    .getInternalMethods?.()
    .getUsageInstance?.() as { cacheHelpMessage?: unknown } | undefined;
  if (usage && typeof usage.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
  return y;
}

let settled = false;
// A command whose promise never settles (a wait on a handle nothing will fire) lets Node run out of work and quit
// with exit 0 and no output: make that a loud failure instead.
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('sideload: internal error: the command stopped before it finished (nothing left to wait on)\n');
  process.exitCode = ExitCode.failure;
});
/** The command line's run, settled when it has set the exit code (the build's code-cache warm-up waits for it). */
export const finished: Promise<void> = main(hideBin(process.argv)).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (e: unknown) => {
    settled = true;
    process.stderr.write(`sideload: internal error: ${String(e)}\n`);
    process.exitCode = ExitCode.failure;
  },
);
