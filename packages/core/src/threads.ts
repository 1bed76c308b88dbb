// The wasm thread-count bound, shared by the browser and Node entries.

/** The most threads the wasm build can run: it pre-creates this many workers, and tfjs caps at it. */
export const MAX_WASM_THREADS = 8;
