/**
 * Which installation, and which of its remotes, the ref arguments of a run point at (installation-source.ts): the
 * installation that has the requested refs deployed, and the origin remotes of those refs.
 */
import { UsageError } from '../errors.js';
import type { Installation } from '../flatpak/installation.js';
import { parseRefArg, refMatchesArg, type ParsedRefArg } from '../flatpak/ref.js';

/** A ref argument parsed, or null for one that does not parse (the planner reports it). */
function parsedOrNull(arg: string): ParsedRefArg | null {
  try {
    return parseRefArg(arg);
  } catch {
    return null;
  }
}

/** The origin remotes of the deployed refs the arguments name (null: no arguments, every remote). */
export async function requestedOrigins(inst: Installation, requested: readonly string[]): Promise<Set<string> | null> {
  if (requested.length === 0) return null;
  const out = new Set<string>();
  const parsed = requested.map(parsedOrNull).filter((p): p is ParsedRefArg => p !== null);
  // A ref argument that names no arch names the ref on every arch.
  for (const d of await inst.deployed()) if (parsed.some((p) => refMatchesArg(d.ref, p))) out.add(d.deploy.origin);
  return out;
}

/**
 * All refs must come from one installation, as in flatpak create-usb: with several in scope, the one that has the
 * requested refs deployed. A ref deployed in more than one, or refs spread over several, is a usage error that
 * names the installations and the options that choose one. With no match anywhere, the first installation is
 * used and the planner reports the missing ref with what is there.
 */
export async function pickInstallation(
  installations: readonly Installation[],
  requested: readonly string[],
): Promise<Installation> {
  const first = installations[0] as Installation;
  if (installations.length === 1 || requested.length === 0) return first;
  const deployed = await Promise.all(installations.map((i) => i.deployed()));
  const holdersOf = (arg: string): Installation[] => {
    const p = parsedOrNull(arg);
    if (!p) return []; // the planner reports the bad argument
    return installations.filter((_, n) => (deployed[n] ?? []).some((d) => refMatchesArg(d.ref, p)));
  };
  const list = (l: readonly Installation[]) => l.map((i) => `'${i.location.name}'`).join(', ');
  let chosen: Installation | null = null;
  for (const arg of requested) {
    const holders = holdersOf(arg);
    if (holders.length > 1)
      throw new UsageError(
        `'${arg}' is installed in several installations (${list(holders)}); ` +
          'choose one with --user, --system or --installation=NAME',
        { ref: arg },
      );
    const h = holders[0];
    if (!h) continue;
    if (chosen && chosen !== h)
      throw new UsageError(
        `the refs are spread over installations ${list([chosen, h])}; ` +
          'all refs of one drive must come from one installation (run sideload once per installation)',
        { ref: arg },
      );
    chosen = h;
  }
  return chosen ?? first;
}
