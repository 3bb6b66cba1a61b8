/**
 * The search for a model's CRF kernels, as the DeepLab paper did it on held-out images: w2 = 3 and
 * σγ = 3 fixed, the appearance kernel's w1, σα and σβ searched coarse to fine — a grid over the
 * paper's ranges, then a finer grid around the best point, half the coarse steps either side.
 *
 *   await searchKernels(async (kernels) => mIoU(kernels)) → { best: { kernels, score }, tried: [...] }
 */
import type { CrfKernels } from './crfParams.js';

export interface KernelTrial {
  readonly kernels: CrfKernels;
  readonly score: number;
  readonly stage: 'coarse' | 'fine';
}

export interface KernelGrid {
  readonly w1: readonly number[];
  readonly xy: readonly number[];
  readonly rgb: readonly number[];
}

/** The paper's ranges: w1 ∈ [3, 6], σα ∈ [30, 100], σβ ∈ [3, 6]. */
export const PAPER_GRID: KernelGrid = { w1: [3, 4, 5, 6], xy: [30, 50, 70, 100], rgb: [3, 4, 5, 6] };
export const FIXED_SMOOTHNESS = { weight: 3, xy: 3 } as const;

const key = (k: CrfKernels) => `${k.bilateral.weight}/${k.bilateral.xy}/${k.bilateral.rgb}`;
const kernelsOf = (w1: number, xy: number, rgb: number): CrfKernels => ({
  bilateral: { weight: w1, xy, rgb },
  gaussian: FIXED_SMOOTHNESS,
});

/** Neighbours around a coarse value: half the distance to the coarse grid's neighbours either side. */
function around(values: readonly number[], at: number): number[] {
  const i = values.indexOf(at);
  const below = i > 0 ? (values[i - 1]! + at) / 2 : null;
  const above = i < values.length - 1 ? (values[i + 1]! + at) / 2 : null;
  return [below, at, above].filter((v): v is number => v !== null).map((v) => Math.round(v * 100) / 100);
}

/**
 * Every coarse point, then the fine points around the best coarse one (each point once). Ties keep
 * the point tried first. `onTrial` sees each result as it comes (progress, a table).
 */
export async function searchKernels(
  score: (kernels: CrfKernels) => Promise<number>,
  options: {
    grid?: KernelGrid;
    onTrial?: (trial: KernelTrial, done: number, total: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<{ best: KernelTrial; tried: KernelTrial[] }> {
  const grid = options.grid ?? PAPER_GRID;
  const tried: KernelTrial[] = [];
  const seen = new Set<string>();
  let best: KernelTrial | null = null;
  const coarse = grid.w1.flatMap((w1) => grid.xy.flatMap((xy) => grid.rgb.map((rgb) => kernelsOf(w1, xy, rgb))));
  let total = coarse.length + 26;
  const run = async (kernels: CrfKernels, stage: KernelTrial['stage']) => {
    if (seen.has(key(kernels))) return;
    options.signal?.throwIfAborted();
    seen.add(key(kernels));
    const trial = { kernels, score: await score(kernels), stage };
    tried.push(trial);
    if (!best || trial.score > best.score) best = trial;
    options.onTrial?.(trial, tried.length, total);
  };
  for (const kernels of coarse) await run(kernels, 'coarse');
  const { weight, xy, rgb } = best!.kernels.bilateral;
  const fine = around(grid.w1, weight).flatMap((w1) =>
    around(grid.xy, xy).flatMap((x) => around(grid.rgb, rgb).map((r) => kernelsOf(w1, x, r))),
  );
  total = coarse.length + fine.filter((k) => !seen.has(key(k))).length;
  for (const kernels of fine) await run(kernels, 'fine');
  return { best: best!, tried };
}
