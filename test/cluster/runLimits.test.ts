/** A task asks for a run; the worker's caps decide whether it gets it. */
import { describe, expect, it } from 'vitest';
import { checkRunLimits, DEFAULT_RUN_LIMITS } from '../../cluster/runLimits.js';

describe('worker run caps', () => {
  it('lets an ordinary run through', () => {
    expect(
      checkRunLimits(
        { batchSize: 1, inputSize: [513, 513], scales: [0.5, 1], flip: true, tiles: { cols: 4, rows: 3 } },
        DEFAULT_RUN_LIMITS,
      ),
    ).toBeNull();
  });

  it('names everything over the caps, and the flag that raises each', () => {
    const line = checkRunLimits(
      { batchSize: 64, inputSize: [8192, 8192], scales: [0.5, 1, 1.5, 2], flip: true, tiles: { cols: 16, rows: 16 } },
      DEFAULT_RUN_LIMITS,
    );
    expect(line).toBe(
      'refused: the run asks for more than this worker allows: input size 8192x8192 (cap 2048, --max-input-size), 8 scales with flips (cap 4, --max-scales), 16x16 tiles (cap 36, --max-tiles), batch 64 (cap 16, --max-batch)',
    );
    expect(checkRunLimits({ batchSize: 2 }, { ...DEFAULT_RUN_LIMITS, maxBatch: 1 })).toMatch(/batch 2 \(cap 1/);
  });
});
