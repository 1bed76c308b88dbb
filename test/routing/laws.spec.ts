// Every built-in router, in several configurations (builtInRouterLaws.ts), through the shared
// router law suite.
import { routerLaws } from '@moderoute/testing';
import { BUILT_IN_ROUTER_LAWS } from './builtInRouterLaws.js';

describe('built-in routers', () => {
  for (const { name, make, options } of BUILT_IN_ROUTER_LAWS) routerLaws(name, make, options);
});
