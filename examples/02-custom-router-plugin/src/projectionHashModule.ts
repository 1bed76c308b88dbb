// What the plugin package exports for containers: one ContainerModule that registers the scheme
// under its name. Load it beside moderoute's modules (createContainer(projectionHashModule)) and
// any config can name "projection-hash".
import { routerModule } from '@moderoute/routing';
import { ProjectionHashRouter, type ProjectionHashRouterConfig } from './ProjectionHashRouter.js';

export const projectionHashModule = routerModule(ProjectionHashRouter.className, (config) => new ProjectionHashRouter(config as unknown as ProjectionHashRouterConfig));
