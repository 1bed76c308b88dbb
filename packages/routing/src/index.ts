// Public API of @moderoute/routing.
export * from './plan.js';
export type { Router } from './Router.js';
export * from './CapacityPolicy.js';
export * from './TokenChoiceRouter.js';
export * from './ExpertChoiceRouter.js';
export * from './MixtureOfDepthsRouter.js';
export * from './RouterRegistry.js';
export { bceWithLogits, loadBalancingCoefficients, loadBalancingLoss, routerZLoss, stopGradient } from './losses.js';
export { topKOf, ranksBefore } from './selection.js';
export { ROUTING_IDS } from './ids.js';
export { routingModule, routerModule } from './routingModule.js';
