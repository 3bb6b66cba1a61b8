import { describe, expect, it } from 'vitest';
import type { FrameWindow, ScoreMap } from '../../core/frames.js';
import { autoGrid, blendWindows, tileWindows } from '../../model/tiles.js';

describe('tileWindows', () => {
  it('covers the frame with equal windows, neighbours sharing the overlap, the last at the far edge', () => {
    const windows = tileWindows(768, 576, { cols: 4, rows: 3 }, 0.25);
    expect(windows).toHaveLength(12);
    expect(new Set(windows.map((w) => `${w.width}x${w.height}`))).toEqual(new Set(['237x231']));
    const xs = [...new Set(windows.map((w) => w.x))];
    expect(xs[0]).toBe(0);
    expect(xs.at(-1)! + 237).toBe(768);
    for (let i = 1; i < xs.length; i++) expect((xs[i - 1]! + 237 - xs[i]!) / 237).toBeCloseTo(0.25, 1);
    expect(Math.max(...windows.map((w) => w.y + w.height))).toBe(576);
  });

  it('auto: windows about the model input; 1×1 when the frame is no larger', () => {
    expect(autoGrid(768, 576, 257, 257, 0.25)).toEqual({ cols: 4, rows: 3 });
    expect(autoGrid(257, 200, 257, 257, 0.25)).toEqual({ cols: 1, rows: 1 });
    expect(autoGrid(1920, 1080, 513, 513, 0)).toEqual({ cols: 4, rows: 3 });
    expect(tileWindows(300, 200, { cols: 1, rows: 1 }, 0.25)).toEqual([{ x: 0, y: 0, width: 300, height: 200 }]);
  });
});

/** A window's scores: every pixel the same per class. */
function flat(values: readonly number[], width: number, height: number): ScoreMap {
  const classes = values.length;
  const data = new Float32Array(width * height * classes).map((_, i) => values[i % classes]!);
  return { data, offset: 0, classes, height, width, layout: 'NHWC' };
}

describe('blendWindows', () => {
  it('is each window where it alone covers, a mean weighted towards window centres where they overlap', () => {
    // Two windows side by side, 8 points wide, overlapping by 4: scores [1, 0] on the left, [0, 1] on the right.
    const windows = tileWindows(12, 4, { cols: 2, rows: 1 }, 0.5);
    expect(windows.map((w) => w.x)).toEqual([0, 4]);
    const grid = blendWindows(
      [
        { scores: flat([1, 0], 8, 4), window: windows[0]!, input: { width: 8, height: 4 } },
        { scores: flat([0, 1], 8, 4), window: windows[1]!, input: { width: 8, height: 4 } },
      ],
      12,
      4,
    );
    expect([grid.width, grid.height]).toEqual([12, 4]);
    const right = (x: number) => grid.data[x * 2 + 1]!; // row 0, class 1
    expect(right(0)).toBeCloseTo(0, 6);
    expect(right(3)).toBeCloseTo(0, 6);
    expect(right(11)).toBeCloseTo(1, 6);
    // Across the overlap the right window's share rises steadily, half-way at its middle.
    const shares = [4, 5, 6, 7].map(right);
    for (let i = 1; i < shares.length; i++) expect(shares[i]!).toBeGreaterThan(shares[i - 1]!);
    expect(shares[1]! + shares[2]!).toBeCloseTo(1, 5);
    // Weights sum to one everywhere: the two classes' scores always add up to 1.
    for (let p = 0; p < 12 * 4; p++) expect(grid.data[p * 2]! + grid.data[p * 2 + 1]!).toBeCloseTo(1, 5);
  });

  it('reads NCHW windows too, the same as NHWC', () => {
    const windows = tileWindows(6, 6, { cols: 2, rows: 2 }, 0.34);
    const nhwc = windows.map((window, i) => ({
      window,
      scores: flat([i, 10 - i, i * i], window.width, window.height),
      input: { width: window.width, height: window.height },
    }));
    const nchw = nhwc.map(({ window, scores, input }) => {
      const { width, height, classes } = scores;
      const data = new Float32Array(scores.data.length);
      for (let p = 0; p < width * height; p++)
        for (let c = 0; c < classes; c++) data[c * width * height + p] = scores.data[p * classes + c]!;
      return { window, input, scores: { ...scores, data, layout: 'NCHW' as const } };
    });
    expect(Array.from(blendWindows(nchw, 6, 6).data)).toEqual(Array.from(blendWindows(nhwc, 6, 6).data));
  });

  /**
   * A window whose scores are its own frame coordinate (x in class 0, y in class 1), sampled where
   * the model would have put them: low-resolution, aligning corners with a resized input.
   */
  function coordinates(window: FrameWindow, input: number, points: number, aligned: boolean): ScoreMap {
    const data = new Float32Array(points * points * 2);
    const frameOf = (j: number, start: number, length: number) => {
      const u = aligned ? (j * (input - 1)) / (points - 1) : (j + 0.5) * (input / points) - 0.5;
      return (u + 0.5) * (length / input) - 0.5 + start;
    };
    for (let j = 0; j < points; j++)
      for (let i = 0; i < points; i++) {
        data[(j * points + i) * 2] = frameOf(i, window.x, window.width);
        data[(j * points + i) * 2 + 1] = frameOf(j, window.y, window.height);
      }
    return {
      data,
      offset: 0,
      classes: 2,
      height: points,
      width: points,
      layout: 'NHWC',
      ...(aligned ? { alignedTo: { width: input, height: input } } : {}),
    };
  }

  it.each([true, false])(
    'samples each window in its own geometry (aligned corners: %s): scores linear in the frame come out where they belong',
    (aligned) => {
      // DeepLab's shape: 257-pixel inputs of 236×230 windows, 33×33 scores; a 4×3 grid over 768×576.
      const windows = tileWindows(768, 576, { cols: 4, rows: 3 }, 0.25);
      const grid = blendWindows(
        windows.map((window) => ({
          window,
          input: { width: 257, height: 257 },
          scores: coordinates(window, 257, 33, aligned),
        })),
        768,
        576,
      );
      expect(grid.width).toBeGreaterThanOrEqual(2 * 33 * 3);
      let worst = 0;
      for (let gy = 0; gy < grid.height; gy++)
        for (let gx = 0; gx < grid.width; gx++) {
          const x = ((gx + 0.5) * 768) / grid.width - 0.5;
          const y = ((gy + 0.5) * 576) / grid.height - 0.5;
          // Away from the frame's edge (where a window's input is clamped), bilinear reproduces a linear field.
          if (x < 4 || y < 4 || x > 763 || y > 571) continue;
          const p = (gy * grid.width + gx) * 2;
          worst = Math.max(worst, Math.abs(grid.data[p]! - x), Math.abs(grid.data[p + 1]! - y));
        }
      // A window's edge clamps its outermost half score step: a tenth of a pixel at most, weighted low.
      expect(worst).toBeLessThan(0.1);
    },
  );
});
