// The version of @moderoute/cli, read from its package.json (one directory up from src/ and dist/).
import { createRequire } from 'node:module';

/** The `version` field of @moderoute/cli's package.json. */
export const VERSION: string = (
  createRequire(import.meta.url)('../package.json') as { version: string }
).version;
