// Builds the playground as a static site: relative paths (base './'), so the folder works from
// any static host; the worker as an ES module; moderoute's packages from their TypeScript sources
// (the @moderoute/source export condition), so no package build is needed first.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  resolve: { conditions: ['@moderoute/source', 'module', 'browser', 'development|production'] },
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
  esbuild: { target: 'es2022' },
});
