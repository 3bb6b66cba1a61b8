/**
 * How much of each zone each class covers, exactly, from a frame's label map: the polygon is
 * rasterised once per frame size into runs of pixels (a pixel belongs to the zone when its centre
 * is inside, even-odd rule), and every frame counts the labels along those runs — no boxes, no
 * sampling. Cost: one read per zone pixel per frame.
 *
 *   const measure = zoneMeasure(zones, classNames);
 *   measure(labels, width, height) → [{ zone: 'crossing', shares: { person: 0.031 }, share: 0.031 }, …]
 */
import type { ZoneSpec } from './zoneSpec.js';

/** The pixels of a polygon at one frame size, as runs: `starts[i]` (index into the label map) and `lengths[i]`. */
export interface ZoneRuns {
  readonly starts: Int32Array;
  readonly lengths: Int32Array;
  /** Pixels in the zone. */
  readonly pixels: number;
}

export interface ZoneShares {
  readonly zone: string;
  /** Per listed class: its share of the zone's pixels (0–1). */
  readonly shares: Readonly<Record<string, number>>;
  /** The listed classes together. */
  readonly share: number;
}

/** Rasterises a polygon given in shares of the frame into runs of whole pixels. */
export function zoneRuns(polygon: readonly (readonly [number, number])[], width: number, height: number): ZoneRuns {
  const xs = polygon.map(([x]) => x * width);
  const ys = polygon.map(([, y]) => y * height);
  const starts: number[] = [];
  const lengths: number[] = [];
  let pixels = 0;
  const crossings: number[] = [];
  for (let row = 0; row < height; row++) {
    const cy = row + 0.5;
    crossings.length = 0;
    for (let i = 0, j = xs.length - 1; i < xs.length; j = i++) {
      const yi = ys[i]!;
      const yj = ys[j]!;
      // Half-open on y, so a vertex on the scanline counts once.
      if (yi > cy !== yj > cy) crossings.push(xs[i]! + ((cy - yi) / (yj - yi)) * (xs[j]! - xs[i]!));
    }
    crossings.sort((a, b) => a - b);
    for (let k = 0; k + 1 < crossings.length; k += 2) {
      // Pixels whose centre x + 0.5 lies in [a, b).
      const first = Math.max(0, Math.ceil(crossings[k]! - 0.5));
      const end = Math.min(width, Math.ceil(crossings[k + 1]! - 0.5));
      if (end <= first) continue;
      starts.push(row * width + first);
      lengths.push(end - first);
      pixels += end - first;
    }
  }
  return { starts: Int32Array.from(starts), lengths: Int32Array.from(lengths), pixels };
}

/**
 * The measure of a stream's zones: rasterises each zone at the first frame of a size and keeps the
 * runs while the size holds. Classes are looked up by name once.
 */
export function zoneMeasure(
  zones: readonly ZoneSpec[],
  classNames: readonly string[],
): (labels: Uint8Array, width: number, height: number) => ZoneShares[] {
  const listed = zones.map((z) => z.classes.map((name) => classNames.indexOf(name)));
  let size = '';
  let runs: ZoneRuns[] = [];
  const counts = new Uint32Array(256);
  return (labels, width, height) => {
    if (`${width}x${height}` !== size) {
      size = `${width}x${height}`;
      runs = zones.map((z) => zoneRuns(z.polygon, width, height));
    }
    return zones.map((zone, z) => {
      const { starts, lengths, pixels } = runs[z]!;
      counts.fill(0);
      for (let r = 0; r < starts.length; r++) {
        const end = starts[r]! + lengths[r]!;
        for (let i = starts[r]!; i < end; i++) counts[labels[i]!]! += 1;
      }
      const shares: Record<string, number> = {};
      let covered = 0;
      zone.classes.forEach((name, k) => {
        const c = listed[z]![k]!;
        const n = c < 0 ? 0 : counts[c]!;
        covered += n;
        shares[name] = pixels > 0 ? n / pixels : 0;
      });
      return { zone: zone.name, shares, share: pixels > 0 ? covered / pixels : 0 };
    });
  };
}
