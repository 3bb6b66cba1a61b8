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
 *
 * How it counts, cheapest first (bench zones): a class that the zones with few classes cover more
 * than a quarter of the frame with is counted once along the frame, up to every place a run starts
 * or ends, and then costs each zone one subtraction per run; other classes of such zones are counted by comparing along the
 * zone's runs; a zone listing many classes counts all labels in one pass over its runs.
 */
export function zoneMeasure(
  zones: readonly ZoneSpec[],
  classNames: readonly string[],
): (labels: Uint8Array, width: number, height: number) => ZoneShares[] {
  const listed = zones.map((z) => z.classes.map((name) => classNames.indexOf(name)));
  let size = '';
  let runs: ZoneRuns[] = [];
  /**
   * Classes counted cumulatively, and where: `cuts` are the frame positions where a run of a zone
   * with few classes starts or ends (sorted), `runCuts[z]` each run's start and end as indices into
   * them, and `at.get(c)[k]` the pixels of class c before `cuts[k]` — one read per pixel per such
   * class, one subtraction per run per zone.
   */
  let cuts = new Int32Array(0);
  let runCuts: Int32Array[] = [];
  let at = new Map<number, Uint32Array>();
  const counts = new Uint32Array(256);
  const few = (z: number) => listed[z]!.length <= 3;
  return (labels, width, height) => {
    if (`${width}x${height}` !== size) {
      size = `${width}x${height}`;
      runs = zones.map((z) => zoneRuns(z.polygon, width, height));
      const demand = new Map<number, number>();
      zones.forEach((_, z) => {
        if (few(z)) for (const c of listed[z]!) if (c >= 0) demand.set(c, (demand.get(c) ?? 0) + runs[z]!.pixels);
      });
      const cumulative = [...demand].filter(([, pixels]) => pixels > (width * height) / 4).map(([c]) => c);
      const positions = new Set<number>();
      zones.forEach((_, z) => {
        if (!few(z)) return;
        const { starts, lengths } = runs[z]!;
        for (let r = 0; r < starts.length; r++) positions.add(starts[r]!).add(starts[r]! + lengths[r]!);
      });
      cuts = Int32Array.from([...positions].sort((a, b) => a - b));
      const cutOf = new Map(Array.from(cuts, (position, k) => [position, k]));
      runCuts = zones.map((_, z) => {
        const { starts, lengths } = runs[z]!;
        if (!few(z)) return new Int32Array(0);
        return Int32Array.from({ length: starts.length * 2 }, (_, k) =>
          cutOf.get(k % 2 === 0 ? starts[k >> 1]! : starts[k >> 1]! + lengths[k >> 1]!)!,
        );
      });
      at = new Map(cumulative.map((c) => [c, new Uint32Array(cuts.length)]));
    }
    for (const [c, before] of at) {
      let n = 0;
      let i = cuts[0] ?? 0;
      for (let k = 0; k < cuts.length; k++) {
        const stop = cuts[k]!;
        for (; i < stop; i++) n += labels[i] === c ? 1 : 0;
        before[k] = n;
      }
    }
    return zones.map((zone, z) => {
      const { starts, lengths, pixels } = runs[z]!;
      const classes = listed[z]!;
      counts.fill(0);
      if (few(z)) {
        for (const c of classes) {
          if (c < 0) continue;
          let n = 0;
          const before = at.get(c);
          if (before) {
            const rc = runCuts[z]!;
            for (let k = 0; k < rc.length; k += 2) n += before[rc[k + 1]!]! - before[rc[k]!]!;
          } else {
            for (let r = 0; r < starts.length; r++) {
              const end = starts[r]! + lengths[r]!;
              for (let i = starts[r]!; i < end; i++) n += labels[i] === c ? 1 : 0;
            }
          }
          counts[c] = n;
        }
      } else {
        for (let r = 0; r < starts.length; r++) {
          const end = starts[r]! + lengths[r]!;
          for (let i = starts[r]!; i < end; i++) counts[labels[i]!]! += 1;
        }
      }
      const shares: Record<string, number> = {};
      let covered = 0;
      zone.classes.forEach((name, k) => {
        const c = classes[k]!;
        const n = c < 0 ? 0 : counts[c]!;
        covered += n;
        shares[name] = pixels > 0 ? n / pixels : 0;
      });
      return { zone: zone.name, shares, share: pixels > 0 ? covered / pixels : 0 };
    });
  };
}
