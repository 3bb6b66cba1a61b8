/**
 * A second thread for one mean-field instance: it instantiates the same WebAssembly module over the
 * same shared memory and runs the half of each step it is told to, so one frame's CRF uses two cores.
 * The two sides talk through a control block in that memory (Atomics.wait / notify), not messages:
 * a step costs microseconds of hand-over, and a CRF iteration has about twenty steps.
 *
 *   control (Int32 × 32): [SEQ, DONE, READY, OP, args…, RESULT, FAILED]  — f32 arguments travel as their bits
 *
 * Started by its engine, or ahead of time by a CRF runner (booting a thread takes tens of
 * milliseconds): then its instructions come through `workerData.port`, from the engine that adopts it.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import type { CrfExports } from './latticeExports.js';
import {
  type ControlOp,
  CONTROL,
  CONTROL_WORDS,
  HELPER_EXPORTS,
  READ_FILE,
  spinWhile,
  SPIN_MICROS,
} from './meanFieldControl.js';
import { readIntoMemory } from './probabilities.js';
import { withNativeKernels } from './crfNative.js';

type Kernel = (...args: number[]) => unknown;

const instructions = (workerData as { port?: MessagePort } | null)?.port ?? parentPort!;
instructions.once(
  'message',
  ({ module, memory, control }: { module: WebAssembly.Module; memory: WebAssembly.Memory; control: number }) => {
    // Names and argument counts are checked against the module's declarations in HELPER_EXPORTS.
    // The native kernels too where the engine has them (the same addon, over the same memory).
    const exports = withNativeKernels(
      new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as CrfExports,
      memory,
    ) as unknown as Record<keyof CrfExports, Kernel>;
    const words = new Int32Array(memory.buffer, control, CONTROL_WORDS);
    const floats = new Float32Array(memory.buffer, control, CONTROL_WORDS);
    Atomics.store(words, CONTROL.READY, 1);
    Atomics.notify(words, CONTROL.READY);
    let seen = 0;
    for (;;) {
      if (!spinWhile(words, CONTROL.SEQ, seen, SPIN_MICROS)) Atomics.wait(words, CONTROL.SEQ, seen);
      seen = Atomics.load(words, CONTROL.SEQ);
      const op = words[CONTROL.OP] as ControlOp;
      if (op === 0) {
        // Exit: a port left open would keep this thread alive.
        if (instructions !== parentPort) instructions.close();
        return;
      }
      if (op === READ_FILE) {
        // Half of a file read on this thread: its pages' first-touch faults taken here too.
        const [fd, at, bytes, position] = words.subarray(CONTROL.ARGS, CONTROL.ARGS + 4);
        words[CONTROL.RESULT] = readIntoMemory(fd!, new Uint8Array(memory.buffer, at, bytes), position!);
      } else {
        const { name, floatArgs, argc } = HELPER_EXPORTS[op];
        const args = Array.from({ length: argc }, (_, i) =>
          floatArgs.includes(i) ? floats[CONTROL.ARGS + i]! : words[CONTROL.ARGS + i]!,
        );
        try {
          const result = exports[name](...args);
          words[CONTROL.RESULT] = typeof result === 'number' ? result : 0;
        } catch {
          Atomics.store(words, CONTROL.FAILED, 1);
        }
      }
      Atomics.store(words, CONTROL.DONE, seen);
      Atomics.notify(words, CONTROL.DONE);
    }
  },
);
