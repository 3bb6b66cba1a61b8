/**
 * The overlay's legend: a small key in the top-left corner — a swatch of each class's colour and its
 * name — drawn into the composed frame, so that a colour means something to whoever watches the
 * video. Text in a built-in 5×7 pixel font (no font files: the same pixels on every machine),
 * scaled with the frame (×1 up to 480 lines, ×2 up to 960, …), over a darkened box.
 *
 *   rgb W×H×3 (composed overlay), [{ name, color }]  →  the same buffer, the key drawn in
 */

/** 5×7 glyphs, one 5-bit row mask per line (bit 4 is the leftmost column). Letters are drawn lowercase. */
const GLYPHS: Record<string, readonly number[]> = {
  a: [0, 0, 14, 1, 15, 17, 15],
  b: [16, 16, 22, 25, 17, 17, 30],
  c: [0, 0, 14, 16, 16, 17, 14],
  d: [1, 1, 13, 19, 17, 17, 15],
  e: [0, 0, 14, 17, 31, 16, 14],
  f: [6, 9, 8, 28, 8, 8, 8],
  g: [0, 15, 17, 17, 15, 1, 14],
  h: [16, 16, 22, 25, 17, 17, 17],
  i: [4, 0, 12, 4, 4, 4, 14],
  j: [2, 0, 6, 2, 2, 18, 12],
  k: [16, 16, 18, 20, 24, 20, 18],
  l: [12, 4, 4, 4, 4, 4, 14],
  m: [0, 0, 26, 21, 21, 17, 17],
  n: [0, 0, 22, 25, 17, 17, 17],
  o: [0, 0, 14, 17, 17, 17, 14],
  p: [0, 0, 30, 17, 30, 16, 16],
  q: [0, 0, 13, 19, 15, 1, 1],
  r: [0, 0, 22, 25, 16, 16, 16],
  s: [0, 0, 14, 16, 14, 1, 30],
  t: [8, 8, 28, 8, 8, 9, 6],
  u: [0, 0, 17, 17, 17, 19, 13],
  v: [0, 0, 17, 17, 17, 10, 4],
  w: [0, 0, 17, 17, 21, 21, 10],
  x: [0, 0, 17, 10, 4, 10, 17],
  y: [0, 0, 17, 17, 15, 1, 14],
  z: [0, 0, 31, 2, 4, 8, 31],
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  '-': [0, 0, 0, 31, 0, 0, 0],
  _: [0, 0, 0, 0, 0, 0, 31],
  '.': [0, 0, 0, 0, 0, 12, 12],
  ',': [0, 0, 0, 0, 12, 4, 8],
  '/': [0, 1, 2, 4, 8, 16, 0],
  ' ': [0, 0, 0, 0, 0, 0, 0],
};
/** What a character the font lacks is drawn as: a small box. */
const MISSING = [0, 31, 17, 17, 17, 31, 0];

export interface LegendEntry {
  readonly name: string;
  readonly color: readonly [number, number, number];
}

/** The key of a frame: every shown class (alpha > 0) with a pixel in it, in class order. */
export function legendEntries(
  classPixels: ArrayLike<number>,
  names: readonly string[],
  palette: Uint8Array,
  alphas: Float32Array,
): LegendEntry[] {
  const entries: LegendEntry[] = [];
  for (let c = 0; c < names.length; c++) {
    if (!((classPixels[c] ?? 0) > 0) || !(alphas[c]! > 0)) continue;
    entries.push({ name: names[c]!, color: [palette[c * 3]!, palette[c * 3 + 1]!, palette[c * 3 + 2]!] });
  }
  return entries;
}

/** Names longer than this are cut (the key must not cover the picture). */
const MAX_NAME = 18;

/** The legend's pixel scale for a frame height. */
export function legendScale(height: number): number {
  return Math.max(1, Math.round(height / 480));
}

/** Draws the key of `entries` into `rgb` (width × height, rgb24), in place; rows that do not fit are left out. */
export function drawLegend(rgb: Uint8Array, width: number, height: number, entries: readonly LegendEntry[]): void {
  if (entries.length === 0) return;
  const s = legendScale(height);
  const pad = 3 * s;
  const rowHeight = 10 * s;
  const names = entries.map((e) => (e.name.length > MAX_NAME ? `${e.name.slice(0, MAX_NAME - 1)}.` : e.name));
  const boxWidth = Math.min(width, pad * 2 + 7 * s + 3 * s + Math.max(...names.map((n) => n.length)) * 6 * s);
  const rows = Math.min(entries.length, Math.floor((height - pad * 2) / rowHeight));
  if (rows <= 0) return;
  const boxHeight = Math.min(height, pad * 2 + rows * rowHeight - 3 * s);
  // A darkened box (a third of the picture's light) keeps the key readable on any background.
  for (let y = 0; y < boxHeight; y++) {
    for (let x = 0, q = y * width * 3; x < boxWidth; x++, q += 3) {
      rgb[q] = rgb[q]! / 3;
      rgb[q + 1] = rgb[q + 1]! / 3;
      rgb[q + 2] = rgb[q + 2]! / 3;
    }
  }
  const fill = (x0: number, y0: number, w: number, h: number, color: readonly [number, number, number]) => {
    for (let y = Math.max(0, y0); y < Math.min(boxHeight, y0 + h); y++) {
      for (let x = Math.max(0, x0); x < Math.min(boxWidth, x0 + w); x++) {
        const q = (y * width + x) * 3;
        rgb[q] = color[0];
        rgb[q + 1] = color[1];
        rgb[q + 2] = color[2];
      }
    }
  };
  const white = [255, 255, 255] as const;
  for (let r = 0; r < rows; r++) {
    const top = pad + r * rowHeight;
    fill(pad, top, 7 * s, 7 * s, entries[r]!.color);
    let x = pad + 10 * s;
    for (const char of names[r]!.toLowerCase()) {
      const glyph = GLYPHS[char] ?? MISSING;
      for (let gy = 0; gy < 7; gy++) {
        for (let gx = 0; gx < 5; gx++) if (glyph[gy]! & (16 >> gx)) fill(x + gx * s, top + gy * s, s, s, white);
      }
      x += 6 * s;
    }
  }
}
