import { describe, expect, it } from 'vitest';
import { UsageError } from '../../core/errors.js';
import { MAX_POLYGON_POINTS, MAX_ZONES_PER_STREAM, parseZones } from '../../zones/zoneSpec.js';

const classes = ['background', 'person', 'car'];
const square: [number, number][] = [
  [0.1, 0.1],
  [0.4, 0.1],
  [0.4, 0.4],
  [0.1, 0.4],
];
const parse = (value: unknown) => parseZones(value, classes, 'PUT zones');
const refusal = (value: unknown): string => {
  try {
    parse(value);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).not.toContain('\n');
    return (error as Error).message;
  }
  throw new Error('accepted');
};

describe('parseZones', () => {
  it('takes zones with the defaults filled in', () => {
    expect(parse([{ name: 'crossing', polygon: square, classes: ['person'] }])).toEqual([
      { name: 'crossing', polygon: square, classes: ['person'], minShare: 0.02, minSeconds: 1 },
    ]);
  });

  it('refuses what users and strangers send, in one line that says where', () => {
    expect(refusal({})).toMatch(/^PUT zones: zones are a JSON array/);
    expect(
      refusal([
        {
          name: 'a',
          polygon: [
            [0, 0],
            [Number.NaN, 1],
            [1, 1],
          ],
          classes: ['person'],
        },
      ]),
    ).toMatch(/^PUT zones: zone 1 \(a\): polygon\.1\.0: /);
    expect(
      refusal([
        {
          name: 'a',
          polygon: [
            [0, 0],
            [2, 1],
            [1, 1],
          ],
          classes: ['person'],
        },
      ]),
    ).toMatch(/polygon\.1\.0/);
    expect(refusal([{ name: 'a', polygon: square, classes: ['unicorn'] }])).toBe(
      'PUT zones: zone 1 (a): "unicorn" is not a class of the model (its classes: background, person, car)',
    );
    expect(refusal([{ name: 'a', polygon: square, classes: ['person', 'person'] }])).toMatch(/listed twice/);
    expect(refusal([{ name: 'a', polygon: square, classes: ['person'], extra: 1 }])).toMatch(/zone 1 \(a\)/);
    expect(
      refusal([
        { name: 'a', polygon: square, classes: ['person'] },
        { name: 'a', polygon: square, classes: ['car'] },
      ]),
    ).toMatch(/two zones are named a/);
    expect(
      refusal([
        {
          name: 'line',
          polygon: [
            [0, 0],
            [0.5, 0.5],
            [1, 1],
          ],
          classes: ['person'],
        },
      ]),
    ).toMatch(/encloses no area/);
    expect(refusal([{ name: '../x', polygon: square, classes: ['person'] }])).toMatch(/name/);
    expect(refusal([{ name: 'a', polygon: square, classes: ['person'], minShare: 0 }])).toMatch(/minShare/);
  });

  it('refuses a million corners or ten thousand zones without reading them all', () => {
    const many = Array.from({ length: 1_000_000 }, (_, i) => [i / 1e6, (i % 2) / 2]);
    expect(refusal([{ name: 'a', polygon: many, classes: ['person'] }])).toMatch(
      new RegExp(`polygon: .*${MAX_POLYGON_POINTS}`),
    );
    const zones = Array.from({ length: 10_000 }, (_, i) => ({ name: `z${i}`, polygon: square, classes: ['person'] }));
    expect(refusal(zones)).toMatch(new RegExp(`at most ${MAX_ZONES_PER_STREAM} zones`));
  });
});
