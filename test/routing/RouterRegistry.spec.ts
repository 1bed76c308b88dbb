// The registry, the ContainerModule, and a plugin: a hash router defined here, registered through
// its own ContainerModule and run through the whole law suite.
import assert from 'node:assert/strict';
import 'reflect-metadata';
import { Container } from 'inversify';
import { RegistryError, tf, type Scalar, type Tensor1D, type Tensor3D } from '@moderoute/core';
import {
  BUILTIN_ROUTERS,
  CapacityPolicy,
  ROUTING_IDS,
  RouterRegistry,
  TokenChoiceRouter,
  routerModule,
  routingCounts,
  routingModule,
  type RouteContext,
  type Router,
  type RouterDescription,
  type TokenChoicePlan,
  OwnedParameterScope,
} from '@moderoute/routing';
import { routerLaws } from '@moderoute/testing';

/**
 * Hash routing (Roller et al. 2021, "Hash Layers"), by position: token t of every sequence goes
 * to expert (7 t + 3) mod E, weight 1, up to a per-sequence capacity. No parameters.
 */
class HashRouter implements Router<TokenChoicePlan> {
  static readonly className = 'hash';
  readonly className = HashRouter.className;
  readonly kind = 'token-choice' as const;
  readonly combineWeightRange = [1, 1] as const;
  readonly defaultCapacity: CapacityPolicy;

  constructor(
    readonly config: {
      dModel: number;
      numExperts: number;
      capacityFactor?: number;
      dropless?: boolean;
    },
  ) {
    const f = config.capacityFactor ?? 1;
    this.defaultCapacity = new CapacityPolicy({
      trainFactor: f,
      evalFactor: f,
      minimum: 1,
      dropless: config.dropless ?? false,
    });
  }

  describe(): RouterDescription {
    return { numExperts: this.config.numExperts, topK: 1, flopsPerToken: 0, causalModes: [] };
  }

  route(x: Tensor3D, options: RouteContext): TokenChoicePlan {
    const [b, t] = x.shape;
    const e = this.config.numExperts;
    const valid = options.mask
      ? Array.from(options.mask.dataSync())
      : new Array<number>(b * t).fill(1);
    const expertOf = (pos: number) => (7 * pos + 3) % e;
    const load = new Array<number>(e).fill(0);
    for (let pos = 0; pos < t; pos++) load[expertOf(pos)]! += 1;
    const policy = options.capacity;
    const capacity = policy.config.dropless
      ? Math.max(...load)
      : Math.min(t, policy.capacity({ groupSize: t, numExperts: e }));
    const lists: number[][] = Array.from({ length: e }, () => []);
    const kept = new Array<number>(b * t).fill(0);
    const slotsUsed = new Array<number>(b * e).fill(0);
    const slotOf = new Map<number, number>();
    for (let m = 0; m < b * t; m++) {
      const ex = expertOf(m % t);
      const g = Math.floor(m / t);
      if (!valid[m] || slotsUsed[g * e + ex]! >= capacity) continue;
      slotOf.set(m, slotsUsed[g * e + ex]!);
      slotsUsed[g * e + ex]! += 1;
      kept[m] = 1;
      lists[ex]!.push(m);
    }
    const tokens = lists.flat();
    const experts = lists.flatMap((l, ex) => l.map(() => ex));
    const slots = tokens.map((m) => slotOf.get(m)!);
    const i32 = (v: number[], shape = [v.length]) => tf.tensor(v, shape, 'int32');
    return {
      kind: 'token-choice',
      batchSize: b,
      seqLen: t,
      numExperts: e,
      topK: 1,
      numGroups: b,
      groupSize: t,
      capacity,
      tokenIndex: i32(tokens) as Tensor1D,
      expertIndex: i32(experts) as Tensor1D,
      slotIndex: i32(slots) as Tensor1D,
      bufferIndex: i32(
        tokens.map((m, i) => (experts[i]! * b + Math.floor(m / t)) * capacity + slots[i]!),
      ) as Tensor1D,
      expertCounts: lists.map((l) => l.length),
      combineWeights: tf.ones([tokens.length]) as Tensor1D,
      choices: i32(
        Array.from({ length: b * t }, (_, m) => expertOf(m % t)),
        [b, t, 1],
      ) as Tensor3D,
      choiceKept: i32(kept, [b, t, 1]) as Tensor3D,
      auxLosses: {} as Record<string, Scalar>,
      counts: routingCounts({
        valid,
        numExperts: e,
        tokenIndex: tokens,
        expertIndex: experts,
        choicesPerToken: 1,
      }),
    };
  }

  getConfig(): Record<string, unknown> {
    return { ...this.config };
  }

  dispose(): void {}
}

/** What a plugin package exports. */
const hashRouterModule = routerModule(
  HashRouter.className,
  (config) => new HashRouter(config as never),
);

describe(RouterRegistry.name, () => {
  describe('.create', () => {
    it('should build each built-in router from its name and JSON config', () => {
      const registry = new RouterRegistry(BUILTIN_ROUTERS);
      assert.deepEqual(registry.names(), ['expert-choice', 'mixture-of-depths', 'token-choice']);
      const scope = new OwnedParameterScope();
      const router = registry.create('token-choice', { dModel: 4, numExperts: 2 }, scope);
      assert.ok(router instanceof TokenChoiceRouter);
      assert.equal(router.className, 'token-choice');
      // Its variables are created in the scope it is given, under its own names.
      assert.deepEqual([...scope.named().keys()], ['weight']);
      const otherScope = new OwnedParameterScope();
      const other = registry.create('token-choice', { dModel: 4, numExperts: 2 }, otherScope);
      assert.notEqual(router, other, 'two blocks must never share a router by accident');
      router.dispose();
      other.dispose();
      scope.dispose();
      otherScope.dispose();
    });

    describe('when the name is unknown', () => {
      it('should list the registered names', () => {
        const registry = new RouterRegistry(BUILTIN_ROUTERS);
        assert.throws(
          () => registry.create('top-2', {}, new OwnedParameterScope()),
          (e: unknown) =>
            e instanceof RegistryError &&
            e.message ===
              'Unknown router "top-2"; registered routers: "expert-choice", "mixture-of-depths", "token-choice"',
        );
      });
    });
  });

  describe('.register', () => {
    describe('when the name is taken', () => {
      it('should throw a RegistryError', () => {
        const registry = new RouterRegistry(BUILTIN_ROUTERS);
        assert.throws(
          () =>
            registry.register('expert-choice', () => new HashRouter({ dModel: 1, numExperts: 1 })),
          (e: unknown) =>
            e instanceof RegistryError && /"expert-choice" is already registered/.test(e.message),
        );
      });
    });
  });
});

describe('routingModule', () => {
  describe('when a plugin module is loaded beside it', () => {
    it('should resolve one registry with the built-ins and the plugin', () => {
      const container = new Container();
      container.load(routingModule, hashRouterModule);
      const registry = container.get(ROUTING_IDS.RouterRegistry);
      assert.equal(container.get(ROUTING_IDS.RouterRegistry), registry);
      assert.deepEqual(registry.names(), [
        'expert-choice',
        'hash',
        'mixture-of-depths',
        'token-choice',
      ]);
      const router = registry.create(
        'hash',
        { dModel: 2, numExperts: 3 },
        new OwnedParameterScope(),
      );
      assert.ok(router instanceof HashRouter);
    });
  });

  describe('when two modules register the same name', () => {
    it('should fail to resolve the registry with a RegistryError', () => {
      const container = new Container();
      container.load(
        routingModule,
        routerModule('token-choice', (c) => new HashRouter(c as never)),
      );
      assert.throws(
        () => container.get(ROUTING_IDS.RouterRegistry),
        (e: unknown) =>
          e instanceof RegistryError && /"token-choice" is already registered/.test(e.message),
      );
    });
  });
});

describe('a plugin router', () => {
  const registry = new Container();
  registry.load(routingModule, hashRouterModule);
  routerLaws(
    'HashRouter from a plugin ContainerModule',
    (c, scope) =>
      registry.get(ROUTING_IDS.RouterRegistry).create(
        'hash',
        {
          dModel: c.dModel,
          numExperts: c.numExperts,
          capacityFactor: c.capacityFactor,
          dropless: c.dropless,
        },
        scope,
      ),
    { supportsDropless: true, expectGradient: false },
  );
});
