// Public API of the plugin package: the router and its ContainerModule.
export { ProjectionHashRouter, type ProjectionHashRouterConfig } from './ProjectionHashRouter.js';
export {
  PROJECTION_HASH_MODULE_URL,
  containerModules,
  projectionHashModule,
} from './projectionHashModule.js';
