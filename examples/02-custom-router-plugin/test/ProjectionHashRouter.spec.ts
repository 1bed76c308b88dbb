// The plugin router: its own unit tests, the whole router law suite through its ContainerModule,
// a model that names it, and the check that docs/plugins.md quotes only code from these files.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import 'reflect-metadata';
import { Container } from 'inversify';
import { ConfigError, initBackend, tf, type Tensor3D } from '@moderoute/core';
import { Decoder, MODEL_IDS, createContainer, generateText } from '@moderoute/model';
import {
  OwnedParameterScope,
  ROUTING_IDS,
  disposePlan,
  routingModule,
  type TokenChoicePlan,
} from '@moderoute/routing';
import { defaultContext, expectClose, routerLaws } from '@moderoute/testing';
import { ReplicaError, ReplicaPool, Trainer } from '@moderoute/train';
import { ProjectionHashRouter, projectionHashModule } from '../src/index.js';
import {
  SIZES,
  pluginModelConfig,
  trainPluginDataParallel,
  trainWithPlugin,
  type PluginRunResult,
} from '../src/trainWithPlugin.js';

describe(ProjectionHashRouter.name, () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('constructor', () => {
    describe('when topK exceeds numExperts', () => {
      it('should throw a ConfigError naming the parameter and the value', () => {
        assert.throws(
          () =>
            new ProjectionHashRouter(
              { dModel: 4, numExperts: 2, topK: 3 },
              new OwnedParameterScope(),
            ),
          (e: unknown) => e instanceof ConfigError && e.parameter === 'topK' && e.value === 3,
        );
      });
    });

    describe('when the config has an unknown key', () => {
      it('should throw a ConfigError', () => {
        assert.throws(
          () =>
            new ProjectionHashRouter({ dModel: 4, topk: 2 } as never, new OwnedParameterScope()),
          (e: unknown) => e instanceof ConfigError && e.parameter === 'config.topk',
        );
      });
    });
  });

  describe('.route', () => {
    // [docs:unit-test]
    it('should send equal tokens to equal experts, whatever the gate learns', () => {
      const scope = new OwnedParameterScope();
      const router = new ProjectionHashRouter(
        { dModel: 8, numExperts: 4, capacityFactor: 4, seed: 5 },
        scope,
      );
      const [a, b] = [
        tf.randomNormal([1, 1, 8], 0, 1, 'float32', 1),
        tf.randomNormal([1, 1, 8], 0, 1, 'float32', 2),
      ];
      const x = tf.concat([a, b, a, b, a], 1) as Tensor3D; // tokens 0, 2, 4 equal; 1, 3 equal
      const choicesOf = () =>
        tf.tidy(() => {
          const plan = router.route(x, defaultContext(router)) as TokenChoicePlan;
          const choices = Array.from(plan.choices.dataSync());
          disposePlan(plan);
          return choices;
        });
      const before = choicesOf();
      assert.deepEqual([before[2], before[4], before[3]], [before[0], before[0], before[1]]);
      // A gradient step on the gate changes the weights, never the assignment.
      const { grads } = tf.variableGrads(
        () => tf.sum(router.route(x, defaultContext(router)).combineWeights),
        scope.trainable(),
      );
      for (const v of scope.trainable()) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 10)));
      assert.deepEqual(choicesOf(), before);
      router.dispose();
      scope.dispose();
      tf.dispose([a, b, x, ...Object.values(grads)]);
    });
    // [docs:unit-test]

    it('should rebuild an equal router from getConfig()', () => {
      const scope = new OwnedParameterScope();
      const router = new ProjectionHashRouter(
        { dModel: 6, numExperts: 3, topK: 2, seed: 9 },
        scope,
      );
      const copyScope = new OwnedParameterScope();
      const copy = new ProjectionHashRouter(router.getConfig() as never, copyScope);
      const x = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 4) as Tensor3D;
      const read = (r: ProjectionHashRouter) =>
        tf.tidy(() => {
          const plan = r.route(x, defaultContext(r));
          const out = [
            Array.from(plan.tokenIndex.dataSync()),
            Array.from(plan.combineWeights.dataSync()),
          ];
          disposePlan(plan);
          return out;
        });
      assert.deepEqual(read(copy), read(router));
      tf.dispose([x]);
      router.dispose();
      copy.dispose();
      scope.dispose();
      copyScope.dispose();
    });
  });
});

// [docs:laws]
describe('projection-hash through its ContainerModule', () => {
  const container = new Container();
  container.load(routingModule, projectionHashModule);
  routerLaws(
    'ProjectionHashRouter',
    (c, scope) =>
      container.get(ROUTING_IDS.RouterRegistry).create(
        'projection-hash',
        {
          dModel: c.dModel,
          numExperts: c.numExperts,
          topK: c.topK,
          capacityFactor: c.capacityFactor,
          dropless: c.dropless,
          seed: c.seed,
        },
        scope,
      ),
    { supportsDropless: true },
  );
});
// [docs:laws]

describe('example 02-custom-router-plugin', () => {
  before(async () => {
    await initBackend({ backend: 'wasm' });
  });

  describe('a model that names the plugin', () => {
    it('should get one new ProjectionHashRouter per MoE block, its gate among the checkpoint names', () => {
      const model = createContainer(projectionHashModule)
        .get(MODEL_IDS.ModelFactory)
        .create({ ...pluginModelConfig('tiny'), numLayers: 4 });
      try {
        const routers = model.blocks.flatMap((block) => block.routers());
        assert.equal(routers.length, 2);
        assert.ok(routers.every((r) => r instanceof ProjectionHashRouter));
        assert.notEqual(routers[0], routers[1]);
        assert.notEqual(
          routers[0]!.getConfig()['seed'],
          routers[1]!.getConfig()['seed'],
          'each block hashes differently',
        );
        const names = [...model.namedParameters().keys()];
        assert.ok(
          names.includes('blocks.1.routers.0.gateWeight') &&
            names.includes('blocks.3.routers.0.gateBias'),
          names.join(', '),
        );
      } finally {
        model.dispose();
      }
    });

    it('should decode with the KV cache as the causal forward pass, and count FLOPs, by the contract', async () => {
      // A tight block capacity (factor 0.5), so that decoding must apply the block's capacity at
      // the context length with the router's running loads to match the forward pass.
      const config = {
        ...SIZES.tiny.model,
        schedule: {
          pattern: [
            'dense',
            {
              kind: 'moe',
              numExperts: 4,
              expertRouter: {
                name: 'projection-hash',
                config: { topK: 1 },
                capacity: { trainFactor: 0.5, evalFactor: 0.5, minimum: 1 },
              },
            },
          ],
        },
      } as const;
      const model = createContainer(projectionHashModule)
        .get(MODEL_IDS.ModelFactory)
        .create(config);
      try {
        const result = await generateText(model, 'Hash ', { maxTokens: 6, temperature: 0 });
        assert.equal(result.tokens.length, 6);
        assert.equal(result.blocks[1]!.kind, 'moe');
        assert.equal(result.blocks[1]!.seen, result.promptTokens.length + 5);
        // The same sequence, decoded token by token, equals one forward pass under 'causal'.
        const ids = [...result.promptTokens, ...result.tokens];
        const decoder = new Decoder(model);
        try {
          const steps = ids.map((id) => decoder.feed([id]));
          tf.tidy(() => {
            const decoded = tf.concat(steps, 0);
            const logits = model.forward(tf.tensor2d([ids], [1, ids.length], 'int32'), {
              mode: 'causal',
            }).logits;
            expectClose(decoded, tf.reshape(logits, decoded.shape), { rtol: 1e-4, atol: 1e-4 });
          });
          tf.dispose(steps);
        } finally {
          decoder.dispose();
        }
        // FLOPs from describe() and the block's capacity: 2 D E + 2 D per token for the router;
        // the experts process min(E * C, T) tokens with C = ceil(0.5 * T / E) per sequence.
        const t = 16;
        const d = 16;
        const flops = model.blocks[1]!.flops(t);
        assert.equal(flops.router, t * (2 * d * 4 + 2 * d));
        const assignments = Math.min(4 * Math.ceil((0.5 * t) / 4), t);
        assert.equal(flops.mlp, 2 * 2 * assignments * d * (4 * d));
      } finally {
        model.dispose();
      }
    });

    describe('when the container lacks the plugin module', () => {
      it('should fail, listing the registered routers', () => {
        assert.throws(
          () => createContainer().get(MODEL_IDS.ModelFactory).create(pluginModelConfig('tiny')),
          /Unknown router "projection-hash"; registered routers: "expert-choice", "mixture-of-depths", "token-choice"/,
        );
      });
    });
  });

  describe('trainWithPlugin', () => {
    let hash: PluginRunResult;
    let builtin: PluginRunResult;
    before(async () => {
      [hash, builtin] = (await trainWithPlugin({ size: 'tiny' })) as [
        PluginRunResult,
        PluginRunResult,
      ];
    });

    it('should train the plugin model: the loss falls and the gate learns', () => {
      assert.equal(hash.router, 'projection-hash');
      assert.ok(hash.lastLoss < hash.firstLoss, `${hash.firstLoss} -> ${hash.lastLoss}`);
      assert.ok(
        hash.validationBitsPerByte > 0 && hash.validationBitsPerByte < 9,
        String(hash.validationBitsPerByte),
      );
      assert.equal(hash.gateBias![0], 2, 'the gate starts at its configured bias');
      assert.notEqual(hash.gateBias![1], 2, 'the gate bias did not move');
    });

    it('should keep every expert within capacity: ceil(1.25 * 16 / 4) = 5 tokens per sequence, 2 sequences', () => {
      assert.equal(hash.expertLoad.length, 4);
      assert.ok(
        hash.expertLoad.every((n) => n <= 10),
        hash.expertLoad.join(' '),
      );
      assert.ok(hash.routedFraction > 0 && hash.routedFraction <= 1);
    });

    it('should train the built-in router on the same model for comparison', () => {
      assert.equal(builtin.router, 'token-choice');
      assert.equal(builtin.gateBias, undefined);
      assert.ok(builtin.lastLoss < builtin.firstLoss);
      assert.ok(
        Math.abs(builtin.firstLoss - hash.firstLoss) < 0.5,
        'the two models start from the same weights but for the router',
      );
    });
  });
});

describe('trainPluginDataParallel', () => {
  it('should train the plugin model on 2 replicas to the losses of one', async () => {
    const one = await trainPluginDataParallel({ replicas: 1 });
    const two = await trainPluginDataParallel({ replicas: 2 });
    assert.equal(two.length, one.length);
    // MoE routing is decided per replica's rows: each replica holds one of the 2 sequences.
    two.forEach((loss, i) =>
      assert.ok(
        Number.isFinite(loss) && Math.abs(loss - one[i]!) < 0.05,
        `step ${i + 1}: ${loss} vs ${one[i]}`,
      ),
    );
  });

  it('should refuse a plugin model on replicas without the module, and name the missing router', async () => {
    const container = createContainer(projectionHashModule);
    const trainer = new Trainer({ ...SIZES.tiny.train, model: pluginModelConfig('tiny') });
    const outDir = mkdtempSync(join(tmpdir(), 'moderoute-plugin-dp-'));
    try {
      await assert.rejects(
        trainer.run({ outDir, modelFactory: container.get(MODEL_IDS.ModelFactory), replicas: 2 }),
        (e: unknown) =>
          e instanceof ConfigError &&
          e.parameter === 'replicas' &&
          /replicaModules/.test(e.message),
      );
      const pool = await ReplicaPool.start({ replicas: 2 });
      try {
        await assert.rejects(
          trainer.run({
            outDir,
            modelFactory: container.get(MODEL_IDS.ModelFactory),
            replicas: pool,
          }),
          (e: unknown) =>
            e instanceof ReplicaError && /Unknown router "projection-hash"/.test(e.message),
        );
      } finally {
        await pool.close();
      }
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});

describe('docs/plugins.md', () => {
  it('should quote only code that exists verbatim in the file each block names', () => {
    const root = new URL('../../../', import.meta.url);
    const doc = readFileSync(new URL('docs/plugins.md', root), 'utf8');
    const blocks = [...doc.matchAll(/<!-- quote: (\S+) -->\n```ts\n([\s\S]*?)```/g)];
    const fences = [...doc.matchAll(/```ts\n/g)].length;
    assert.ok(blocks.length >= 4, `only ${blocks.length} quoted blocks`);
    assert.equal(blocks.length, fences, 'every ts block must be preceded by <!-- quote: path -->');
    for (const [, path, code] of blocks) {
      const source = readFileSync(fileURLToPath(new URL(path!, root)), 'utf8');
      assert.ok(
        source.includes(code!),
        `docs/plugins.md quotes code that is not in ${path}:\n${code}`,
      );
    }
  });
});
