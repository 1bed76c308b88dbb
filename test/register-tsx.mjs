// Loaded by mocha (the `require` option in package.json) before any spec: runs TypeScript sources
// through tsx with the shared compiler settings. tsx reads only the working directory's
// tsconfig.json, and the root one is a solution file whose options apply to no file, so it is
// pointed at tsconfig.base.json (legacy decorators for inversify in particular).
import { fileURLToPath } from 'node:url';

process.env.TSX_TSCONFIG_PATH ??= fileURLToPath(new URL('../tsconfig.base.json', import.meta.url));
await import('tsx');
