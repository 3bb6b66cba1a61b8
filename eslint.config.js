// typescript-eslint's recommended rules over the sources, benchmarks and tests (`npm run lint`, part of `npm test`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'crf/wasm/**', 'viewer/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Unused names are already errors in tsc (noUnusedLocals/Parameters), with `_` for the ones kept on purpose.
      '@typescript-eslint/no-unused-vars': 'off',
      // With noUncheckedIndexedAccess a `!` says "this index exists"; one that changes nothing is noise.
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
    },
  },
);
