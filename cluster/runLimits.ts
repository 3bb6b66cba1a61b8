/**
 * How big a run a task from the broker may ask of this worker: its operator's caps on the model's
 * input size, the scales, the tiles and the batch (`worker --max-input-size`, `--max-scales`,
 * `--max-tiles`, `--max-batch`). One task over them is refused in one line, instead of costing
 * the worker its memory (8192² × 4 scales × batch 64 kills it, and the next, and the next).
 */
import type { RunSettings } from './protocol.js';

export interface RunLimits {
  /** The longest side of the model's input, in pixels. */
  readonly maxInputSide: number;
  readonly maxScales: number;
  /** Tiles (columns × rows) per frame. */
  readonly maxTiles: number;
  readonly maxBatch: number;
}

export const DEFAULT_RUN_LIMITS: RunLimits = { maxInputSide: 2048, maxScales: 4, maxTiles: 36, maxBatch: 16 };

/** Null when the run fits, else one line naming what is over and the worker's cap. */
export function checkRunLimits(run: RunSettings, limits: RunLimits): string | null {
  const over: string[] = [];
  if (run.inputSize && Math.max(...run.inputSize) > limits.maxInputSide)
    over.push(`input size ${run.inputSize.join('x')} (cap ${limits.maxInputSide}, --max-input-size)`);
  const scales = (run.scales?.length ?? 1) * (run.flip ? 2 : 1);
  if (scales > limits.maxScales)
    over.push(`${scales} scales${run.flip ? ' with flips' : ''} (cap ${limits.maxScales}, --max-scales)`);
  if (run.tiles && run.tiles !== 'auto' && run.tiles.cols * run.tiles.rows > limits.maxTiles)
    over.push(`${run.tiles.cols}x${run.tiles.rows} tiles (cap ${limits.maxTiles}, --max-tiles)`);
  if (run.batchSize > limits.maxBatch) over.push(`batch ${run.batchSize} (cap ${limits.maxBatch}, --max-batch)`);
  return over.length > 0 ? `refused: the run asks for more than this worker allows: ${over.join(', ')}` : null;
}
