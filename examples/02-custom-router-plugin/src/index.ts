// Public API of the plugin package: the router and its ContainerModule.
export { ProjectionHashRouter, type ProjectionHashRouterConfig } from './ProjectionHashRouter.js';
export { projectionHashModule } from './projectionHashModule.js';
