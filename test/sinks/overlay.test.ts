import { describe, expect, it } from 'vitest';
import { drawLegend, legendEntries, legendScale } from '../../sinks/legend.js';
import { classAlphas, outlineLabels, overlayLabels } from '../../sinks/overlay.js';

const W = 40;
const H = 30;
const palette = Uint8Array.from([0, 0, 0, 200, 20, 20, 20, 200, 20]);
/** A grey frame with a 12×10 square of class 1 at (10, 8). */
function scene(): { rgb: Uint8Array; labels: Uint8Array } {
  const rgb = new Uint8Array(W * H * 3).fill(90);
  const labels = new Uint8Array(W * H);
  for (let y = 8; y < 18; y++) for (let x = 10; x < 22; x++) labels[y * W + x] = 1;
  return { rgb, labels };
}
const px = (rgb: Uint8Array, x: number, y: number) => Array.from(rgb.subarray((y * W + x) * 3, (y * W + x) * 3 + 3));

describe('outlineLabels', () => {
  it('paints a 2-px contour inside each shown region, opaque, and leaves the rest as it was', () => {
    const { rgb, labels } = scene();
    const alphas = classAlphas(['background', 'person', 'car'], 0.55);
    const out = outlineLabels(new Uint8Array(rgb), labels, W, H, palette, alphas);
    expect(px(out, 10, 8)).toEqual([200, 20, 20]); // corner
    expect(px(out, 11, 12)).toEqual([200, 20, 20]); // 2nd column from the left edge
    expect(px(out, 12, 12)).toEqual([90, 90, 90]); // 3rd: inside, untouched
    expect(px(out, 15, 12)).toEqual([90, 90, 90]);
    expect(px(out, 9, 12)).toEqual([90, 90, 90]); // background (alpha 0) never outlined
    expect(px(out, 21, 17)).toEqual([200, 20, 20]);
  });

  it('draws both: the blend, then the contour over it', () => {
    const { rgb, labels } = scene();
    const alphas = classAlphas(['background', 'person', 'car'], 0.5);
    const both = outlineLabels(overlayLabels(rgb, labels, palette, alphas), labels, W, H, palette, alphas);
    expect(px(both, 15, 12)).toEqual([145, 55, 55]); // blended inside
    expect(px(both, 10, 12)).toEqual([200, 20, 20]); // contour
    expect(px(both, 2, 2)).toEqual([90, 90, 90]);
  });
});

describe('legend', () => {
  it('lists the shown classes present in the frame, in class order', () => {
    const alphas = classAlphas(['background', 'person', 'car'], 0.55);
    expect(legendEntries([100, 0, 5], ['background', 'person', 'car'], palette, alphas)).toEqual([
      { name: 'car', color: [20, 200, 20] },
    ]);
    expect(legendEntries([100, 3, 5], ['background', 'person', 'car'], palette, alphas).map((e) => e.name)).toEqual([
      'person',
      'car',
    ]);
  });

  it('draws a swatch and white text over a darkened box in the top-left corner, and nothing elsewhere', () => {
    const width = 120;
    const height = 60;
    const rgb = new Uint8Array(width * height * 3).fill(90);
    drawLegend(rgb, width, height, [{ name: 'person', color: [200, 20, 20] }]);
    const at = (x: number, y: number) => Array.from(rgb.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));
    expect(legendScale(height)).toBe(1);
    expect(at(4, 4)).toEqual([200, 20, 20]); // the swatch (from 3,3, 7 px)
    const box = Array.from({ length: 12 * 7 }, (_, i) => at(13 + (i % 36), 3 + Math.floor(i / 36)));
    expect(box.some((c) => c.join() === '255,255,255')).toBe(true); // the text
    expect(at(1, 1)).toEqual([30, 30, 30]); // darkened
    expect(at(width - 1, height - 1)).toEqual([90, 90, 90]); // the picture elsewhere untouched
  });

  it('scales with the frame and leaves out rows that do not fit', () => {
    expect(legendScale(1080)).toBe(2);
    const rgb = new Uint8Array(50 * 20 * 3).fill(90);
    drawLegend(rgb, 50, 20, [
      { name: 'a', color: [1, 2, 3] },
      { name: 'b', color: [4, 5, 6] },
    ]);
    expect(Array.from(rgb.subarray((4 * 50 + 4) * 3, (4 * 50 + 4) * 3 + 3))).toEqual([1, 2, 3]);
    expect(rgb.some((v, i) => i % 3 === 0 && v === 4)).toBe(false); // the second row did not fit
  });
});
