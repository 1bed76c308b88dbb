// The tree's lint rules (typescript-eslint, type-aware). `pnpm lint` runs ESLint from the
// repository root with this file (`eslint -c tools/lint/eslint.config.mjs`), so the file
// patterns below are relative to the root. Type information comes from TypeScript's project
// service, which finds each file's tsconfig (the solution tsconfig.json lists them all).
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** `x as unknown as T`: a cast the type checker cannot see through. */
const asUnknownAs = {
  selector:
    'TSAsExpression[expression.type="TSAsExpression"][expression.typeAnnotation.type="TSUnknownKeyword"]',
  message:
    '`as unknown as` hides a type error; narrow the value (a type guard, a typed interface) instead.',
};

/**
 * The core primitives' kernel plumbing: tfjs's kernel registry, its backends and its gradient
 * functions are typed loosely (`NamedTensorInfoMap`, `TensorInfo`, untyped `backend` objects),
 * and these files convert between those and tensors at that one boundary.
 */
const kernelPlumbing = ['packages/core/src/primitives/**/*.ts', 'packages/core/src/wasmThreads.ts'];

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      // Type-checked by consumer/run.mjs against the packed packages, not by the workspace.
      'consumer/**',
      '**/dist/**',
      'docs/api/**',
      'packages/core/src/generated/**',
      // AssemblyScript (its own types: f32, v128, usize), checked by asc when core builds.
      'packages/core/assembly/**',
      '**/*.d.ts',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: fileURLToPath(new URL('../..', import.meta.url)),
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      'no-restricted-syntax': ['error', asUnknownAs],
      // tfjs's idiom is `tf.reshape(x, s) as Tensor3D`: the rule would rewrite each into an
      // explicit type argument (`tf.reshape<Rank.R3>`), churn with no safety gained.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // A leading underscore marks a binding kept on purpose (a destructured part left out).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
        },
      ],
      // Shapes (`number[]`) in messages read well as `2,3`; objects and `unknown` stay refused.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true, allowArray: true },
      ],
    },
  },
  {
    files: ['**/test/**/*.ts', 'test/**/*.ts', ...kernelPlumbing],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    // Tests read JSON they wrote (`any`), stub promise-returning hooks with async functions that
    // need not await, and swap static methods (`ReplicaPool.start`) to inject faults.
    files: ['**/test/**/*.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
);
