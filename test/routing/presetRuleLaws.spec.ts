// The router laws with the rules that close the framework presets' gaps (presetRuleRouterLaws.ts).
import { routerLaws } from '@moderoute/testing';
import { PRESET_RULE_ROUTER_LAWS } from './presetRuleRouterLaws.js';

describe('built-in routers with the preset rules', () => {
  for (const { name, make, options } of PRESET_RULE_ROUTER_LAWS) routerLaws(name, make, options);
});
