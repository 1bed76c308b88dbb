// Plugin modules: the one way a plugin reaches the containers that training builds. A plugin is an
// ES module whose `containerModules` export lists its ContainerModules (or is a function returning
// them). A container cannot cross threads, but a URL can: the Trainer (when given no modelFactory)
// and every replica worker import the same URL here and build their containers with
// `createContainer(...modules)`, so both threads know the same routers.
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '@moderoute/core';
import type { createContainer } from '@moderoute/model';

/** The ContainerModules createContainer takes (inversify's, through @moderoute/model). */
export type ContainerModule = Parameters<typeof createContainer>[number];

/**
 * The URL of a plugin module given as a URL or an absolute path. A relative path is refused: it
 * would resolve against another file in each thread.
 */
export function pluginModuleUrl(source: string | URL, parameter = 'modules'): string {
  if (source instanceof URL) return source.href;
  if (isAbsolute(source)) return pathToFileURL(source).href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(source)) return source;
  throw new ConfigError(
    parameter,
    source,
    'the URL or absolute path of an ES module exporting containerModules (a relative path would ' +
      'resolve inside the worker)',
  );
}

/** The `containerModules` export of the plugin module at `source` (none for `undefined`). */
export async function loadPluginModules(
  source: string | URL | undefined,
  parameter = 'modules',
): Promise<ContainerModule[]> {
  if (source === undefined) return [];
  const url = pluginModuleUrl(source, parameter);
  const loaded = (await import(url)) as { containerModules?: unknown };
  const found: unknown =
    typeof loaded.containerModules === 'function'
      ? await (loaded.containerModules as () => unknown)()
      : loaded.containerModules;
  if (!Array.isArray(found))
    throw new ConfigError(
      parameter,
      url,
      'an ES module that exports containerModules (an array of ContainerModules, or a function ' +
        'returning one)',
    );
  return found as ContainerModule[];
}
