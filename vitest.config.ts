import { defineConfig } from 'vitest/config';

/**
 * Two projects (README, "Tests"): `unit` needs nothing but Node; `interop` is everything that runs the real
 * ostree/flatpak/gpg/openssl binaries or the compiled CLI in dist/ — the files under test/interop/ and any
 * `*.interop.test.ts`. `npm test` runs both, `npm run test:unit` the first alone. test/structure checks that no
 * unit file reaches for a tool or dist/. The globalSetup makes one temp root per project (removed at the end) and,
 * for interop, builds dist/ and the example repo once for the whole run.
 */
const interop = ['test/interop/**/*.test.ts', 'test/**/*.interop.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // Most interop time is spent waiting on child processes (ostree, flatpak, gpg, our CLI), fsync and deliberate
    // network stalls, so more forks than cores keep the 2 CPUs busy: 4 took `npm test` from 7 m 05 s to ~4 m on the
    // 2-core CI machine (vitest's default is cores - 1, one fork there). SIDELOAD_TEST_WORKERS overrides.
    maxWorkers: Number(process.env['SIDELOAD_TEST_WORKERS'] ?? 4),
    minWorkers: 1,
    reporters: ['default', './test/helpers/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: interop,
          globalSetup: ['./test/setup/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: { name: 'interop', include: interop, globalSetup: ['./test/setup/global-setup.ts'] },
      },
    ],
  },
});
