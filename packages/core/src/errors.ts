// Typed errors of moderoute. Every message names the parameter, the value it got and what was
// expected, so a user can fix a config or a call without reading the source.

/** Base class of every error moderoute throws on purpose. */
export class ModerouteError extends Error {
  override readonly name: string = 'ModerouteError';
}

/** Formats a value for an error message: short, unambiguous, never throws. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (Array.isArray(value)) return `[${value.map(describeValue).join(', ')}]`;
  try {
    const json = JSON.stringify(value);
    return json.length > 120 ? `${json.slice(0, 117)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** A configuration value is invalid: `numExperts (0) must be an integer >= 1`. */
export class ConfigError extends ModerouteError {
  override readonly name = 'ConfigError';
  constructor(
    readonly parameter: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${parameter} (${describeValue(value)}) must be ${expected}`);
  }
}

/** A tensor has the wrong rank, shape or dtype: `x.shape ([2, 3]) must be [N, 4]`. */
export class ShapeError extends ModerouteError {
  override readonly name = 'ShapeError';
  constructor(
    readonly parameter: string,
    readonly actual: readonly number[] | string,
    readonly expected: string,
  ) {
    super(`${parameter} (${typeof actual === 'string' ? actual : describeValue(actual)}) must be ${expected}`);
  }
}

/** A backend cannot be used: unknown name, missing package, or failed initialisation. */
export class BackendError extends ModerouteError {
  override readonly name = 'BackendError';
  constructor(
    readonly backend: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A name was registered twice, or looked up and not found, in a registry. */
export class RegistryError extends ModerouteError {
  override readonly name = 'RegistryError';
}
