/**
 * What the running command is doing, for the Ctrl-C handler in main.ts: an interrupt during the journaled publish
 * step does not stop it (the drive must not be left half-published), so the message must say so.
 */
export const runState: { phase: string; interrupted: boolean } = { phase: 'idle', interrupted: false };
