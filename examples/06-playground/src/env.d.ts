// Vite's module types (`?raw` and `?url` imports) for the type check.
/// <reference types="vite/client" />
