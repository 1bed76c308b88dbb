// The token-choice router's option combinations that are invalid although each option is valid
// alone (the noise and load losses of Shazeer et al. 2017 and V-MoE, GShard's and DeepSpeed's
// second-expert policies); resolveTokenChoiceConfig (tokenChoiceConfig.ts) checks them last.
import { ConfigError } from '@moderoute/core';
import type { ResolvedTokenChoiceRouterConfig } from './tokenChoiceConfig.js';
import type { ExpertGroupRule } from './tokenChoiceRules.js';

/** Throws a ConfigError naming the first option of `resolved` that its other options rule out. */
export function checkOptionCombinations(
  resolved: ResolvedTokenChoiceRouterConfig,
  expertGroups: ExpertGroupRule | undefined,
): void {
  if (resolved.loadCoefficient > 0 && !resolved.noisyGating && resolved.noiseStd === 0) {
    throw new ConfigError(
      'loadCoefficient',
      resolved.loadCoefficient,
      '0 without noisyGating or noiseStd (the load loss is defined through the gating noise, ' +
        'Shazeer et al. 2017 eq. 8-10)',
    );
  }
  if (resolved.noiseStd > 0 && resolved.noisyGating)
    throw new ConfigError(
      'noiseStd',
      resolved.noiseStd,
      "0 with noisyGating (learned noise, Shazeer et al.) or noisyGating false (V-MoE's fixed noise)",
    );
  if (resolved.noisyGating && expertGroups !== undefined)
    throw new ConfigError(
      'noisyGating',
      true,
      'false with expertGroups > 1 (the load loss ranks a token against all experts)',
    );
  const second = resolved.secondExpertPolicy;
  if (second !== 'all' && resolved.topK !== 2)
    throw new ConfigError(
      'secondExpertPolicy',
      second,
      `"all" unless topK is 2 (topK is ${resolved.topK})`,
    );
  if (
    second === 'sampled' &&
    (expertGroups || resolved.biasUpdateRate > 0 || resolved.scoreFunction !== 'softmax')
  )
    throw new ConfigError(
      'secondExpertPolicy',
      second,
      '"all" or "random" with expert groups, a selection bias or sigmoid scores (DeepSpeed samples the ' +
        'second expert from a softmax over all experts)',
    );
}
