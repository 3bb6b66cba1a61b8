/** The control block shared by a CRF engine (wasmEngine.ts) and its helper thread (see meanFieldHelper.ts). */
import type { CrfExports } from './latticeExports.js';
import { settings } from '../core/settings.js';

/** Word indices: RESULT holds a step's integer result; FAILED is set when a step threw (the main side then throws too). */
export const CONTROL = { SEQ: 0, DONE: 1, READY: 2, OP: 3, ARGS: 4, RESULT: 30, FAILED: 31 } as const;

/** 32-bit words in the control block. */
export const CONTROL_WORDS = 32;

/**
 * Operations the helper runs: 0 ends it; `READ_FILE` reads part of a file into the memory (args: fd,
 * at, bytes, file position; RESULT: bytes read, −1 on an error); the others name a WebAssembly
 * export and its f32 arguments.
 */
export type ControlOp = 0 | 1 | 2 | 3 | 4 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15 | 16;

export const READ_FILE = 14;

/** An export the helper may run, with its argument count checked against the module's own declaration. */
type HelperExport = {
  [Name in keyof CrfExports]: {
    readonly name: Name;
    readonly argc: Parameters<CrfExports[Name]>['length'];
    readonly floatArgs: readonly number[];
  };
}[keyof CrfExports];

/** `floatArgs`: the arguments that are f32 in the kernel (they travel as their bits). */
export const HELPER_EXPORTS: Record<Exclude<ControlOp, 0 | typeof READ_FILE>, HelperExport> = {
  1: { name: 'splat', argc: 8, floatArgs: [] },
  2: { name: 'addInto', argc: 3, floatArgs: [] },
  3: { name: 'blurDirection', argc: 8, floatArgs: [] },
  4: { name: 'sliceUpdate', argc: 9, floatArgs: [] },
  6: { name: 'expand', argc: 8, floatArgs: [] },
  7: { name: 'neighboursOf', argc: 9, floatArgs: [] },
  8: { name: 'buildLattice', argc: 10, floatArgs: [] },
  9: { name: 'prepareListed', argc: 12, floatArgs: [] },
  10: { name: 'selectActive', argc: 19, floatArgs: [9, 11] },
  11: { name: 'splatOnes', argc: 6, floatArgs: [] },
  12: { name: 'normaliseAll', argc: 8, floatArgs: [6] },
  13: { name: 'touchPages', argc: 2, floatArgs: [] },
  15: { name: 'normaliseProbabilities', argc: 3, floatArgs: [] },
  16: { name: 'peaks', argc: 4, floatArgs: [] },
};

export const OP = {
  exit: 0,
  splat: 1,
  addInto: 2,
  blurDirection: 3,
  sliceUpdate: 4,
  expand: 6,
  neighboursOf: 7,
  buildLattice: 8,
  prepareListed: 9,
  selectActive: 10,
  splatOnes: 11,
  normaliseAll: 12,
  touchPages: 13,
  readFile: READ_FILE,
  normaliseProbabilities: 15,
  peaks: 16,
} as const;

/** How long each side of a hand-over spins before it sleeps (`DEEPLAB_STREAM_CRF_SPIN_US`, 0: never). */
export const SPIN_MICROS = settings().crf.spinMicros;

/**
 * Spins until words[index] is no longer `value`, for at most `micros` µs; true when it changed.
 * The two threads of a mean-field step hand over dozens of times per frame, microseconds apart: a
 * sleeping thread takes tens of µs to wake on these VMs (a futex wake and a halted vCPU), so each side
 * watches the word briefly before it sleeps in Atomics.wait.
 */
export function spinWhile(words: Int32Array, index: number, value: number, micros: number): boolean {
  const until = performance.now() + micros / 1000;
  for (;;) {
    for (let i = 0; i < 256; i++) if (Atomics.load(words, index) !== value) return true;
    if (performance.now() > until) return false;
  }
}
