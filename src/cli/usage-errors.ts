/**
 * Plain messages for the command lines yargs refuses. An unknown flag first: yargs in strict mode reports it only
 * after its other checks, and an unknown `--flag` takes the next word as its value, so `sideload list --jsn /mnt/usb`
 * said "Not enough non-option arguments: got 0, need at least 1", about the drive the typo swallowed. main.ts asks
 * for unknown flags whenever yargs refuses a command line, so the message names the flag (and the closest real
 * one); a missing argument is named from the command's usage.
 */
import { didYouMean } from '../flatpak/ref.js';

/** What yargs knows of the command being parsed: option names (kebab-case, as declared) and their aliases. */
export interface KnownOptions {
  readonly key: Readonly<Record<string, unknown>>;
  readonly alias?: Readonly<Record<string, readonly string[]>>;
  /**
   * Options declared but not in the help: one a command declares only to refuse it with its own reason
   * (`completion --json`) and old spellings kept working (`--trusted-key`). Never offered as "did you mean".
   */
  readonly hiddenOptions?: readonly string[];
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The flags in `argv` (before a `--`) that are none of `known`'s options, as typed (`--jsn`, `-x`). */
export function unknownOptions(argv: readonly string[], known: KnownOptions): string[] {
  const names = new Set(Object.keys(known.key));
  for (const list of Object.values(known.alias ?? {})) for (const a of list) names.add(a);
  // yargs takes `--dryRun` for `--dry-run` and `--no-json` for a false `--json` (not `--noJson`).
  const isKnown = (n: string) => names.has(n) || names.has(kebab(n)) || (n.startsWith('no-') && names.has(n.slice(3)));
  const out: string[] = [];
  for (const token of argv) {
    if (token === '--') break;
    if (token.startsWith('--')) {
      const name = token.slice(2).split('=')[0] as string;
      if (name && !isKnown(name)) out.push(`--${name}`);
    } else if (/^-[A-Za-z]/.test(token)) {
      for (const c of token.slice(1).split('=')[0] as string) if (!isKnown(c)) out.push(`-${c}`);
    }
  }
  return [...new Set(out)];
}

/**
 * "unknown option --jsn (did you mean --json?)", for one or more. The hint is one of the options the command's help
 * lists: `completion --jsn` offered --json, which completion then refused.
 */
export function unknownOptionsMessage(unknown: readonly string[], known: KnownOptions): string {
  const hidden = new Set(known.hiddenOptions ?? []);
  const long = Object.keys(known.key).filter((k) => k.length > 1 && !/[A-Z]/.test(k) && !hidden.has(k));
  const told = unknown.map((u) => {
    const [hint] = u.startsWith('--') ? didYouMean(u.slice(2), long) : [];
    return hint ? `${u} (did you mean --${hint}?)` : u;
  });
  return `unknown option${told.length > 1 ? 's' : ''} ${told.join(', ')}`;
}

/**
 * yargs' "Not enough non-option arguments: got 1, need at least 2" for a command whose usage is `usage` (`remove
 * <drive> <refs..>`) as "missing <refs..> (usage: sideload remove <drive> <refs..>)"; null for any other message.
 */
export function missingArgumentsMessage(msg: string, usage: string): string | null {
  const m = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(msg);
  if (!m) return null;
  const required = usage.match(/<[^>]+>/g) ?? [];
  const missing = required.slice(Number(m[1]));
  if (!missing.length) return null;
  return `missing ${missing.join(' ')} (usage: sideload ${usage})`;
}

/**
 * yargs' "Unknown argument: k1" (or "Unknown arguments: a, b") for a command whose usage is `usage` as "unexpected
 * argument 'k1' (usage: sideload keygen)": the words a command takes no place for. Null for any other message.
 */
export function extraArgumentsMessage(msg: string, usage: string): string | null {
  const m = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!m) return null;
  const words = (m[1] as string).split(', ').map((w) => `'${w}'`);
  return `unexpected argument${words.length > 1 ? 's' : ''} ${words.join(', ')} (usage: sideload ${usage})`;
}

/**
 * A first word that is no command: "unknown command 'lst' (did you mean list?)", else with the list of commands.
 * (Ours, not yargs' suggestion: it offered `rm` for `frob`.) Null when `word` is a command.
 */
export function unknownCommandMessage(word: string, commands: readonly string[]): string | null {
  if (commands.includes(word)) return null;
  const [hint] = didYouMean(word, commands);
  return `unknown command '${word}' (${hint ? `did you mean ${hint}?` : `commands: ${commands.join(', ')}`})`;
}
