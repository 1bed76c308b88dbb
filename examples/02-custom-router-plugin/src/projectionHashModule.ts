// What the plugin package exports for containers: one ContainerModule that registers the scheme
// under its name. Load it beside moderoute's modules (createContainer(projectionHashModule)) and
// any config can name "projection-hash". `containerModules` lists it for data-parallel worker
// replicas, which import this file by URL (ReplicaPoolOptions.modules, TrainOptions.replicaModules).
import { routerModule } from '@moderoute/routing';
import { ProjectionHashRouter } from './ProjectionHashRouter.js';

export const projectionHashModule = routerModule(
  ProjectionHashRouter.className,
  (config, scope) => new ProjectionHashRouter(config, scope),
);

/** What a data-parallel replica adds to its container when it imports this module. */
export const containerModules = [projectionHashModule];

/** This module's URL, as a worker thread can import it (the .ts source under tsx, the .js once built). */
export const PROJECTION_HASH_MODULE_URL = import.meta.url;
