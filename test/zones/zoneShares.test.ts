import { describe, expect, it } from 'vitest';
import { zoneMeasure, zoneRuns } from '../../zones/zoneShares.js';
import type { ZoneSpec } from '../../zones/zoneSpec.js';

const zone = (name: string, polygon: [number, number][], classes: string[]): ZoneSpec => ({
  name,
  polygon,
  classes,
  minShare: 0.02,
  minSeconds: 1,
});

/** The zone's pixels by brute force: every pixel centre tested against the polygon (even-odd). */
function inside(polygon: [number, number][], x: number, y: number): boolean {
  let odd = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < xi + ((y - yi) / (yj - yi)) * (xj - xi)) odd = !odd;
  }
  return odd;
}

describe('zoneRuns', () => {
  it('holds exactly the pixels whose centre is inside, for a concave polygon at an odd size', () => {
    const polygon: [number, number][] = [
      [0.1, 0.1],
      [0.9, 0.2],
      [0.5, 0.5],
      [0.95, 0.9],
      [0.05, 0.8],
    ];
    const width = 37;
    const height = 23;
    const runs = zoneRuns(polygon, width, height);
    const mask = new Uint8Array(width * height);
    for (let r = 0; r < runs.starts.length; r++)
      for (let i = runs.starts[r]!; i < runs.starts[r]! + runs.lengths[r]!; i++) mask[i]! += 1;
    let expected = 0;
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const want = inside(polygon, (x + 0.5) / width, (y + 0.5) / height) ? 1 : 0;
        expected += want;
        expect(mask[y * width + x], `pixel ${x},${y}`).toBe(want);
      }
    expect(runs.pixels).toBe(expected);
    expect(expected).toBeGreaterThan(100);
  });

  it('covers the whole frame for the unit square and nothing outside it', () => {
    const runs = zoneRuns(
      [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
      64,
      48,
    );
    expect(runs.pixels).toBe(64 * 48);
  });
});

describe('zoneMeasure', () => {
  it('measures each listed class over the zone exactly, and the classes together', () => {
    const width = 100;
    const height = 50;
    const labels = new Uint8Array(width * height);
    // Left half class 1 ("person"), a 10×10 block of class 2 ("car") in the right half, the rest 0.
    for (let y = 0; y < height; y++) for (let x = 0; x < 50; x++) labels[y * width + x] = 1;
    for (let y = 10; y < 20; y++) for (let x = 60; x < 70; x++) labels[y * width + x] = 2;
    const measure = zoneMeasure(
      [
        zone(
          'right',
          [
            [0.5, 0],
            [1, 0],
            [1, 1],
            [0.5, 1],
          ],
          ['person', 'car'],
        ),
        zone(
          'middle',
          [
            [0.4, 0],
            [0.6, 0],
            [0.6, 1],
            [0.4, 1],
          ],
          ['person'],
        ),
      ],
      ['background', 'person', 'car'],
    );
    const [right, middle] = measure(labels, width, height);
    expect(right!.shares).toEqual({ person: 0, car: 100 / 2500 });
    expect(right!.share).toBe(100 / 2500);
    expect(middle!.share).toBe(0.5);
  });

  it('counts as exactly with many classes listed (one counting pass) as with few (a pass per class)', () => {
    const labels = Uint8Array.from({ length: 30 * 20 }, (_, i) => (i * 7919) % 6);
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const polygon: [number, number][] = [
      [0.1, 0.1],
      [0.9, 0.3],
      [0.4, 0.95],
    ];
    const [many] = zoneMeasure([zone('many', polygon, ['b', 'c', 'd', 'e'])], names)(labels, 30, 20);
    const few = ['b', 'c', 'd', 'e'].map((c) => zoneMeasure([zone('one', polygon, [c])], names)(labels, 30, 20)[0]!);
    expect(Object.values(many!.shares)).toEqual(few.map((f) => f.share));
    expect(many!.share).toBeCloseTo(
      few.reduce((a, f) => a + f.share, 0),
      12,
    );
    expect(many!.share).toBeGreaterThan(0.5);
  });
});
