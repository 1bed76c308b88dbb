// The ContainerModule of @moderoute/model. Load after core, routing and blocks modules.
import { ContainerModule } from 'inversify';
import { MODEL_IDS } from './ids.js';
import { ModelFactory } from './ModelFactory.js';

/** The ContainerModule of @moderoute/model: the model factory. */
export const modelModule = new ContainerModule(({ bind }) => {
  bind(MODEL_IDS.ModelFactory).to(ModelFactory).inSingletonScope();
});
