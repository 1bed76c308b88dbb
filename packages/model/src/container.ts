// A ready container with every module up to the model: the composition root most users need.
import 'reflect-metadata';
import { Container, type ContainerModule } from 'inversify';
import { coreModule } from '@moderoute/core';
import { routingModule } from '@moderoute/routing';
import { blocksModule } from '@moderoute/blocks';
import { modelModule } from './modelModule.js';

/** A container with core, routing, blocks and model loaded, plus `extra` modules (plugins). */
export function createContainer(...extra: ContainerModule[]): Container {
  const container = new Container();
  container.load(coreModule, routingModule, blocksModule, modelModule, ...extra);
  return container;
}
