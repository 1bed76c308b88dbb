// What config.json holds (docs/model-format.md): the model's config as given ("model", which
// loading and resuming read), the same model fully resolved ("resolved": every layer, router
// config, capacity and default written out, for readers outside moderoute; itself a loadable
// model config), and the training config ("train"). Checkpoints written before "resolved"
// existed load the same: nothing in moderoute reads it.
import { resolvedModelConfig, type LanguageModel } from '@moderoute/model';
import { toJsonValue, type JsonValue } from './checkpointFormat.js';

/** config.json's contents for `model` trained under `train`. */
export function checkpointConfig(model: LanguageModel, train: unknown): JsonValue {
  return toJsonValue({ model: model.getConfig(), resolved: resolvedModelConfig(model), train });
}
