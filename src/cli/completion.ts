/** Shell completion (`sideload completion`): what the script yargs prints is answered with, word by word. */

export type CompletionFallback = (cb: (err: Error | null, list?: string[]) => void) => void;

/** Options whose value is a path: the shell completes file names there. */
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
  if (!current.startsWith('-') && (words.length > 0 || afterPathOption)) return done([]);
  fallback((_err, list) => done((list ?? []).filter((c) => !/^--.$/.test(c))));
}
