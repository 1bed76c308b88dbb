// The generation form: prompt, tokens, temperature and seed, labelled.

/** Fills the generation form. */
export function buildGenerateForm(form: HTMLFormElement): void {
  form.innerHTML =
    '<p><label for="prompt">Prompt</label> <input id="prompt" value="The " /></p>' +
    '<p><label for="max-tokens">Tokens</label> ' +
    '<input id="max-tokens" type="number" min="1" value="40" /></p>' +
    '<p><label for="temperature">Temperature</label> ' +
    '<input id="temperature" type="number" min="0" step="0.1" value="0.8" /></p>' +
    '<p><label for="sample-seed">Seed</label> ' +
    '<input id="sample-seed" type="number" min="0" value="0" /></p>' +
    '<p><button type="button" id="generate">Generate</button></p>';
}

/** The generation request of the form (the worker checks the numbers). */
export function readGenerateFields(form: HTMLFormElement) {
  const v = (id: string) => form.querySelector<HTMLInputElement>(`#${id}`)!.value;
  return {
    prompt: v('prompt'),
    maxTokens: Number(v('max-tokens')),
    temperature: Number(v('temperature')),
    seed: Number(v('sample-seed')),
  };
}
