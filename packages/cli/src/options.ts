// Option parsers shared by the commands: each names the option and the value it refused.
import { InvalidArgumentError } from 'commander';

export function intOption(name: string, min = 0): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be an integer >= ${min}`);
    return n;
  };
}

export function floatOption(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be a number > 0`);
    return n;
  };
}

export function choiceOption<T extends string>(name: string, choices: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${name} (${JSON.stringify(value)}) must be one of ${choices.join(', ')}`);
    return value as T;
  };
}
