// ESLint (flat config): typescript-eslint's recommended rules over src/, test/ and scripts/. Formatting is
// prettier's job (.prettierrc.json); `npm run lint` runs both, checking only. README, "Formatting and lint".
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'examples/repo/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      // Node's globals (scripts/*.mjs are plain JavaScript; TypeScript checks the rest).
      globals: Object.fromEntries(
        [
          'process',
          'Buffer',
          'console',
          'URL',
          'AbortController',
          'AbortSignal',
          'TextDecoder',
          'TextEncoder',
          'performance',
        ]
          .concat([
            'setTimeout',
            'clearTimeout',
            'setInterval',
            'clearInterval',
            'setImmediate',
            'queueMicrotask',
            'structuredClone',
          ])
          .map((g) => [g, 'readonly']),
      ),
    },
    rules: {
      // `catch {}`: the code base ignores expected failures that way, with a comment or without
      'no-empty': ['error', { allowEmptyCatch: true }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
    },
  },
);
