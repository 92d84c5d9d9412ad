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
