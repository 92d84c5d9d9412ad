/**
 * After a hangup (SIGHUP: the terminal closed, an ssh session dropped), node 20 aborts (SIGABRT, a core dump) as it
 * exits: it restores the terminal settings of stdin/stdout/stderr, and that fails with EIO on a hung-up terminal
 * (nodejs/node#51519, fixed in later node releases). It skips a descriptor that was closed, so once a hangup came
 * the three are closed as the process exits, after everything was written: the run ends with its own exit code.
 */
import fs from 'node:fs';

let armed = false;

/** Called by the SIGHUP handlers (launch.ts, main.ts); once is enough. */
export function onHangup(): void {
  if (armed) return;
  armed = true;
  process.on('exit', () => {
    for (const fd of [0, 1, 2])
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
  });
}
