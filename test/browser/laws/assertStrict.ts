// A browser stand-in for `node:assert/strict`, which the law suites in @moderoute/testing import:
// the bundle of the in-browser law page (bundleLawPage.ts) maps that module here, so the page
// carries no Node built-in. It has exactly the calls the suites make, with Node's strict
// semantics (Object.is for primitives, so -0 differs from 0; deep equality over arrays and plain
// objects), and throws an AssertionError-named Error with the same kind of message.

/** The error the assertions throw (named like Node's, so mocha's report reads the same). */
class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

function fail(message: string | undefined, fallback: string): never {
  throw new AssertionError(message ?? fallback);
}

function show(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Node's isDeepStrictEqual on the values the laws compare: primitives, arrays, plain objects. */
function deepStrictEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((v, i) => deepStrictEqual(v, other[i]));
  }
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  if (keysA.length !== keysB.length) return false;
  const record = (v: object) => v as Record<string, unknown>;
  return keysA.every((k) => Object.hasOwn(b, k) && deepStrictEqual(record(a)[k], record(b)[k]));
}

function ok(value: unknown, message?: string): asserts value {
  if (!value) fail(message, `The expression evaluated to a falsy value: ${show(value)}`);
}

const assert = Object.assign(ok, {
  ok,
  equal(actual: unknown, expected: unknown, message?: string): void {
    if (!Object.is(actual, expected))
      fail(message, `Expected values to be strictly equal: ${show(actual)} !== ${show(expected)}`);
  },
  notEqual(actual: unknown, expected: unknown, message?: string): void {
    if (Object.is(actual, expected))
      fail(message, `Expected "actual" to be strictly unequal to: ${show(expected)}`);
  },
  deepEqual(actual: unknown, expected: unknown, message?: string): void {
    if (!deepStrictEqual(actual, expected))
      fail(
        message,
        `Expected values to be strictly deep-equal: ${show(actual)} vs ${show(expected)}`,
      );
  },
});

export default assert;
