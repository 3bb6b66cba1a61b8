import { describe, expect, it } from 'vitest';
import { zoneMeasure } from '../../zones/zoneShares.js';
import { ZoneTracker, type ZoneEvent } from '../../zones/zoneTracker.js';
import type { ZoneSpec } from '../../zones/zoneSpec.js';

const W = 80;
const H = 60;
const classes = ['background', 'person'];
const crossing: ZoneSpec = {
  name: 'crossing',
  polygon: [
    [0.5, 0.5],
    [1, 0.5],
    [1, 1],
    [0.5, 1],
  ],
  classes: ['person'],
  minShare: 0.05,
  minSeconds: 1,
};

/** A label map with a person of `size` pixels square at (x, y), and salt of stray person pixels (DeepLab's noise). */
function frame(person: { x: number; y: number; size: number } | null, seed: number): Uint8Array {
  const labels = new Uint8Array(W * H);
  let s = seed * 2654435761;
  for (let k = 0; k < 12; k++) {
    s = (s * 1103515245 + 12345) >>> 0;
    labels[s % labels.length] = 1;
  }
  if (person)
    for (let y = person.y; y < person.y + person.size; y++)
      for (let x = person.x; x < person.x + person.size; x++) labels[y * W + x] = 1;
  return labels;
}

/** 10 fps: a person walks in from the left, a one-frame false blob in the zone at 0.5 s, a one-frame miss while standing. */
function scene(): { labels: Uint8Array; atMs: number }[] {
  const frames = [];
  for (let i = 0; i < 80; i++) {
    let person: { x: number; y: number; size: number } | null = null;
    if (i === 5)
      person = { x: 60, y: 40, size: 12 }; // a blip: one frame only
    else if (i >= 10 && i < 60) person = { x: Math.min(40, i), y: 38, size: 12 }; // walks in, then stands still
    if (i === 52) person = null; // DeepLab misses the person for one frame
    frames.push({ labels: frame(person, i), atMs: 1_000_000 + i * 100 });
  }
  return frames;
}

describe('ZoneTracker', () => {
  it('tells occupied once after minSeconds above minShare, free once after as long below, and no blip either way', () => {
    const tracker = new ZoneTracker('cam', [crossing]);
    const measure = zoneMeasure([crossing], classes);
    const events: ZoneEvent[] = [];
    scene().forEach(({ labels, atMs }, i) => events.push(...tracker.observe(measure(labels, W, H), i, atMs)));
    expect(events.map((e) => [e.type, e.frame])).toEqual([
      // 5% of the zone's 1200 pixels is 5 columns of the 12-pixel person: from frame 33 on, occupied 1 s (10 frames) later;
      // gone after frame 59, free 1 s later. Neither the blip at 5 nor the miss at 52 changes anything.
      ['zone.occupied', 43],
      ['zone.free', 70],
    ]);
    const [occupied, free] = events;
    expect(scene().findIndex(({ labels }, i) => i > 5 && share(labels) >= 0.05)).toBe(33);
    expect(occupied).toMatchObject({ stream: 'cam', zone: 'crossing', classes: ['person'] });
    expect(occupied!.share).toBeGreaterThanOrEqual(0.05);
    expect(occupied!.at).toBe(new Date(1_000_000 + occupied!.frame * 100).toISOString());
    expect(free!.share).toBeLessThan(0.05);
    expect(tracker.states()[0]).toMatchObject({ name: 'crossing', occupied: false });
  });

  it('keeps an unchanged zone’s state across a replace, and tells an occupied zone free when it is removed', () => {
    const tracker = new ZoneTracker('cam', [crossing]);
    const full = zoneMeasure([crossing], classes)(frame({ x: 40, y: 30, size: 30 }, 1), W, H);
    for (let i = 0; i <= 10; i++) tracker.observe(full, i, i * 100);
    expect(tracker.states()[0]!.occupied).toBe(true);
    expect(tracker.replace([crossing, { ...crossing, name: 'other' }])).toEqual([]);
    expect(tracker.states().map((s) => s.occupied)).toEqual([true, false]);
    const ended = tracker.replace([{ ...crossing, name: 'other' }]);
    expect(ended.map((e) => [e.type, e.zone, e.frame])).toEqual([['zone.free', 'crossing', 10]]);
    expect(tracker.close()).toEqual([]);
  });

  it('tells an occupied zone free once when its stream ends, and keeps the zone', () => {
    const tracker = new ZoneTracker('cam', [crossing]);
    const full = zoneMeasure([crossing], classes)(frame({ x: 40, y: 30, size: 30 }, 1), W, H);
    for (let i = 0; i <= 10; i++) tracker.observe(full, i, i * 100);
    expect(tracker.ended().map((e) => [e.type, e.zone, e.frame])).toEqual([['zone.free', 'crossing', 10]]);
    expect(tracker.ended()).toEqual([]);
    expect(tracker.states()).toMatchObject([{ name: 'crossing', occupied: false }]);
  });
});

function share(labels: Uint8Array): number {
  let n = 0;
  for (let y = 30; y < H; y++) for (let x = 40; x < W; x++) n += labels[y * W + x]!;
  return n / 1200;
}
