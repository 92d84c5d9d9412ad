/** The one `ostree fsck` helper of the suites. */
import { run } from './process.js';

/**
 * Runs `ostree fsck --repo=<repo>`. `expect: 'ok'` (the default) returns stdout and throws (with ostree's output)
 * when fsck fails; `'fails'` returns stderr + stdout and throws when fsck passes.
 */
export async function fsck(repo: string, expect: 'ok' | 'fails' = 'ok'): Promise<string> {
  const r = await run('ostree', ['fsck', `--repo=${repo}`]);
  if (expect === 'ok' && r.code !== 0)
    throw new Error(`ostree fsck --repo=${repo} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  if (expect === 'fails' && r.code === 0)
    throw new Error(`ostree fsck --repo=${repo} passed, expected it to fail:\n${r.stdout}`);
  return expect === 'ok' ? r.stdout : `${r.stderr}\n${r.stdout}`;
}
