import { describe, expect, it } from 'vitest';
import type { CrfKernels } from '../../crf/crfParams.js';
import { PAPER_GRID, searchKernels } from '../../crf/tuneSearch.js';

/** A smooth score with its peak at (w1, σα, σβ) = peak. */
const peaked =
  (peak: [number, number, number]) =>
  async ({ bilateral: { weight, xy, rgb } }: CrfKernels) =>
    -(((weight - peak[0]) / 3) ** 2) - ((xy - peak[1]) / 70) ** 2 - ((rgb - peak[2]) / 3) ** 2;

describe('searchKernels', () => {
  it('finds a peak on the coarse grid, then refines around it to a finer point', async () => {
    const { best, tried } = await searchKernels(peaked([4.4, 56, 4.4]));
    expect(best.kernels.bilateral).toEqual({ weight: 4.5, xy: 60, rgb: 4.5 });
    expect(best.kernels.gaussian).toEqual({ weight: 3, xy: 3 });
    expect(best.stage).toBe('fine');
    expect(tried.filter((t) => t.stage === 'coarse')).toHaveLength(
      PAPER_GRID.w1.length * PAPER_GRID.xy.length * PAPER_GRID.rgb.length,
    );
    expect(tried.filter((t) => t.stage === 'fine')).toHaveLength(26); // 3×3×3 around an inner point, less the point itself
    expect(new Set(tried.map((t) => JSON.stringify(t.kernels))).size).toBe(tried.length);
  });

  it('keeps a coarse point that nothing finer beats, at the edge of the ranges too', async () => {
    const { best, tried } = await searchKernels(peaked([6, 100, 3]));
    expect(best.kernels.bilateral).toEqual({ weight: 6, xy: 100, rgb: 3 });
    expect(tried.filter((t) => t.stage === 'fine')).toHaveLength(7); // 2×2×2 at a corner, less the point
  });

  it('reports progress and stops when aborted', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const search = searchKernels(peaked([4, 50, 4]), {
      signal: controller.signal,
      onTrial: (_t, done) => {
        seen.push(done);
        if (done === 5) controller.abort();
      },
    });
    await expect(search).rejects.toThrow();
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });
});
