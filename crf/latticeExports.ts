/**
 * The WebAssembly module's exports, typed from its one source, `wasm/lattice.as.ts`: asc writes
 * their declarations beside the module it builds (`--bindings raw`: dist/crf/lattice.d.ts,
 * found here through tsconfig's rootDirs). A kernel whose signature changes no longer compiles
 * against callers that pass the old arguments.
 */
import type { instantiate } from './lattice.js';

export type CrfExports = Omit<Awaited<ReturnType<typeof instantiate>>, 'memory'>;
