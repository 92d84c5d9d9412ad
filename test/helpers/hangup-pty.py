"""Runs a command on a new pseudo-terminal (its controlling terminal, as a login shell's) and hangs the terminal up
when a line arrives on stdin: the master side is closed, so the kernel sends SIGHUP and later writes fail with EIO,
as when a terminal window is closed or an ssh session drops. Prints {"alive": true, "code": N} (or "signal": N) as JSON,
"alive" false when the command had ended before the hangup."""
import json
import os
import pty
import select
import sys

pid, master = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])


# One thread reads what the command writes and waits for the line: a read in progress in another thread would keep
# the master open past its close.
while True:
    ready, _, _ = select.select([master, sys.stdin], [], [])
    if sys.stdin in ready:
        sys.stdin.readline()
        break
    try:
        if not os.read(master, 65536):
            break
    except OSError:
        break
done, status = os.waitpid(pid, os.WNOHANG)
alive = done == 0
os.close(master)
if alive:
    _, status = os.waitpid(pid, 0)
end = {"code": os.WEXITSTATUS(status)} if os.WIFEXITED(status) else {"signal": os.WTERMSIG(status)}
print(json.dumps({"alive": alive, **end}))
