/** Shell completion (`sideload completion`): the scripts for bash and zsh, and what they are answered with, word by word. */
import path from 'node:path';
import type { CommandModule } from 'yargs';
import { UsageError } from '../errors.js';
import { EXTENSION_POLICIES } from '../flatpak/resolve-types.js';
import { QUIET } from './common-options.js';
import { examplesEpilog } from './help.js';

export type CompletionFallback = (cb: (err: Error | null, list?: string[]) => void) => void;

/** Options whose value is a path: the shell completes file names there. */
/** The options whose value is one of a few words. */
const CHOICES: Readonly<Record<string, readonly string[]>> = { extensions: EXTENSION_POLICIES };

const PATH_OPTIONS = [
  'repo',
  'gpg-import',
  'upstream-key',
  'trusted-key',
  'sign-key',
  'drive-key',
  'manifest',
  'lock',
  'output',
  'installation-dir',
  'from',
  'destination-repo',
];

/**
 * Shell completion: commands first, options after a `-`, and no words where a path goes (a drive, a file after
 * `--repo` …), so the shell completes file names there; yargs' own offered every option everywhere, and `--v` for `-v`.
 */
export function completeWord(
  current: string,
  parsed: Record<string, unknown>,
  fallback: CompletionFallback,
  done: (l: string[]) => void,
): void {
  // The shell passes the program's name first; a command after it means what follows is no command.
  const words = ((parsed['_'] as unknown[]) ?? []).map(String).slice(1);
  if (words.at(-1) === current) words.pop(); // the word being typed is no command yet
  const afterPathOption = PATH_OPTIONS.some(
    (o) => parsed[o] === current || (Array.isArray(parsed[o]) && (parsed[o] as unknown[]).at(-1) === current),
  );
  // An option with fixed values: those (the shell would offer file names).
  for (const [o, values] of Object.entries(CHOICES))
    if (parsed[o] === current) return done(values.filter((v) => v.startsWith(current)));
  // `completion`'s one word is a shell (yargs offers its choices), no path.
  const shellWord = words.length === 1 && words[0] === 'completion';
  if (!current.startsWith('-') && !shellWord && (words.length > 0 || afterPathOption)) return done([]);
  // (zsh's form is `--v:description`.)
  fallback((_err, list) => done((list ?? []).filter((c) => !/^--.(:|$)/.test(c))));
}

/** The shells `sideload completion` writes a script for. */
export const COMPLETION_SHELLS = ['bash', 'zsh'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

/**
 * The completion script for a shell. Both ask `sideload --get-yargs-completions WORDS…` (the words up to the cursor)
 * and say which shell asks through SHELL: yargs picks its answer's form (bash: `create`; zsh: `create:description`)
 * from SHELL, so a bash whose login shell is zsh got zsh's form. When no word is offered (a drive, a file) the shell
 * completes file names.
 */
export function completionScript(shell: CompletionShell): string {
  if (shell === 'zsh')
    return `#compdef sideload
###-begin-sideload-completions-###
# zsh completion for sideload. Install: sideload completion zsh >> ~/.zshrc (after compinit there),
# or save it as _sideload in a directory of $fpath.
_sideload() {
  local -a reply
  if [[ $PREFIX == --*=* ]]; then
    # --option=value: the value completes as the word after --option does (plain words: bash's form).
    local opt=\${PREFIX%%=*}
    compset -P '*='
    reply=("\${(@f)$(SHELL=bash sideload --get-yargs-completions "\${(@)words[1,CURRENT-1]}" "$opt" "$PREFIX" 2>/dev/null)}")
    reply=("\${(@)reply:#}")
    if (( \${#reply} )); then
      compadd -a reply
    else
      _files
    fi
    return
  fi
  reply=("\${(@f)$(SHELL=zsh sideload --get-yargs-completions "\${(@)words[1,CURRENT]}" 2>/dev/null)}")
  reply=("\${(@)reply:#}")
  if (( \${#reply} )); then
    _describe 'sideload' reply
  else
    _files
  fi
}
if [[ "\${zsh_eval_context[-1]}" == loadautofunc ]]; then
  _sideload "$@"
else
  compdef _sideload sideload
fi
###-end-sideload-completions-###
`;
  return `###-begin-sideload-completions-###
# bash completion for sideload. Install: sideload completion bash >> ~/.bashrc
_sideload_yargs_completions()
{
    local cur="\${COMP_WORDS[COMP_CWORD]}" words
    mapfile -t words < <(SHELL=bash sideload --get-yargs-completions "\${COMP_WORDS[@]:0:COMP_CWORD+1}" 2>/dev/null)
    mapfile -t COMPREPLY < <(compgen -W "\${words[*]}" -- "$cur")
    return 0
}
complete -o bashdefault -o default -F _sideload_yargs_completions sideload
###-end-sideload-completions-###
`;
}

interface CompletionArgs {
  shell?: CompletionShell;
  json?: boolean;
  quiet?: boolean;
}

/** `sideload completion [bash|zsh]`: prints the script (without a shell named: zsh when $SHELL is zsh, else bash). */
export function completionCommand(setCode: (c: number) => void): CommandModule<object, CompletionArgs> {
  return {
    command: 'completion [shell]',
    describe: 'Print a bash or zsh completion script: sideload completion bash >> ~/.bashrc',
    builder: (y) =>
      y
        .positional('shell', {
          type: 'string',
          choices: COMPLETION_SHELLS,
          describe: 'The shell: bash or zsh (default: zsh when $SHELL is zsh, else bash)',
        })
        // -q as every command takes it: the script is what is printed, errors aside, so it changes nothing.
        .option('quiet', { ...QUIET, describe: 'Accepted as by every command (the script is the only output)' })
        // --json is refused with its own reason (and, as every usage error with --json, in a JSON error document).
        .option('json', { type: 'boolean', hidden: true })
        .epilog(
          examplesEpilog([
            ['bash: complete commands and options in every new shell', 'sideload completion bash >> ~/.bashrc'],
            ['zsh: the same (append it after compinit runs)', 'sideload completion zsh >> ~/.zshrc'],
            ['zsh, as a completion function on $fpath', 'sideload completion zsh > ~/.zfunc/_sideload'],
          ]),
        ) as never,
    handler: (args) => {
      if (args.json)
        throw new UsageError('completion prints a shell script, not a JSON document: run it without --json');
      const shell = args.shell ?? (path.basename(process.env['SHELL'] ?? '') === 'zsh' ? 'zsh' : 'bash');
      process.stdout.write(completionScript(shell));
      setCode(0);
    },
  };
}
