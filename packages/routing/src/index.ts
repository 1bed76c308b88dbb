/**
 * The `Router` contract and its token-choice, expert-choice and Mixture-of-Depths
 * implementations, capacity policies, auxiliary losses and the router registry.
 *
 * @module @moderoute/routing
 */
// Public API of @moderoute/routing.
export * from './plan.js';
export {
  CAUSAL_RULES,
  type CausalContext,
  type CausalMode,
  type CausalSession,
  type RouteContext,
  type Router,
  type RouterDescription,
} from './Router.js';
export { routeCausally, hasCausalForm } from './causalRoute.js';
export {
  depthSession,
  tokenChoiceSession,
  type DepthRule,
  type TokenChoiceRule,
} from './causal.js';
export * from './CapacityPolicy.js';
export * from './TokenChoiceRouter.js';
export {
  IMPORTANCE_GATES,
  SECOND_EXPERT_POLICIES,
  type ImportanceGates,
  type SecondExpertPolicy,
} from './tokenChoiceOptionNames.js';
export {
  LOAD_BALANCING_CHOICES,
  PROBS_RANKINGS,
  type LoadBalancingChoices,
  type ProbsRanking,
} from './tokenChoiceOptionNames.js';
export {
  type ResolvedTokenChoiceRouterConfig,
  type RouteScoresOptions,
  type TokenChoiceRouterConfig,
} from './tokenChoiceConfig.js';
export * from './ExpertChoiceRouter.js';
export * from './MixtureOfDepthsRouter.js';
export {
  MOD_CAUSAL_MODES,
  MOD_GATES,
  PREDICTOR_HINT,
  type MixtureOfDepthsRouterConfig,
  type ModCausalMode,
  type ModGate,
  type ResolvedMixtureOfDepthsRouterConfig,
} from './mixtureOfDepthsConfig.js';
export { PREDICTOR_LINEAR_RATE, quantileCut } from './depthCuts.js';
export * from './RouterRegistry.js';
export * from './statistics.js';
export * from './counts.js';
export * from './randomness.js';
export * from './ParameterScope.js';
export {
  allGatesImportanceLoss,
  countLoadLoss,
  cvSquared,
  fixedNoiseLoadLoss,
  importanceLoss,
  noisyLoadLoss,
} from './gatingLosses.js';
export {
  bceWithLogits,
  loadBalancingCoefficients,
  meanBceWithLogits,
  loadBalancingLoss,
  rootMeanSquaredError,
  routerZLoss,
  sequenceBalanceLoss,
  stopGradient,
} from './losses.js';
export { largestValues, topKOf, ranksBefore } from './selection.js';
export * from './tokenChoiceRules.js';
export { ROUTING_IDS } from './ids.js';
export { routingModule, routerModule } from './routingModule.js';
// The plugin kit: what the built-in routers are made of, for routers of other packages.
export {
  checkKeys,
  checkRouteInput,
  readValidity,
  requireBoolean,
  requireLive,
  seededInit,
  seededVariable,
} from './common.js';
export { emptySlots, flattenSlots, type GivenScores, type Slot } from './expertAssignments.js';
export {
  layoutAssignments,
  type Assignment,
  type AssignmentArrays,
  type AssignmentShape,
} from './assignmentLayout.js';
export { meanEntropy, meanWeights } from './losses.js';
export * from './tokenGroups.js';
export * from './selectionBias.js';
export * from './tokenChoicePresets.js';
export { type PlanExtras } from './tokenChoicePlan.js';
export {
  routingDraws,
  sampleSecondExperts,
  secondExpertSkips,
  type RoutingDraws,
} from './tokenChoiceDraws.js';
export { normalizedChoiceScores } from './tokenChoiceRules.js';
