import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { zoneEventJsonSchema, zoneEventSchema } from '../../zones/zoneEvent.js';
import { zoneMeasure } from '../../zones/zoneShares.js';
import { ZoneTracker } from '../../zones/zoneTracker.js';
import { repoRoot } from '../helpers/fixtures.js';

describe('the zone event schema', () => {
  it('is the one published in docs/ (npm run schema writes it)', () => {
    const published = JSON.parse(readFileSync(path.join(repoRoot, 'docs/zone-event.schema.json'), 'utf8')) as unknown;
    expect(published).toEqual(zoneEventJsonSchema());
  });

  it('holds for the events a tracker makes, and refuses what is not one', () => {
    const zone = {
      name: 'all',
      polygon: [
        [0, 0],
        [1, 0],
        [1, 1],
      ] as [number, number][],
      classes: ['person'],
      minShare: 0.5,
      minSeconds: 0,
    };
    const tracker = new ZoneTracker('cam', [zone]);
    const events = tracker.observe(
      zoneMeasure([zone], ['background', 'person'])(new Uint8Array(16).fill(1), 4, 4),
      3,
      0,
    );
    expect(events).toHaveLength(1);
    for (const event of [...events, ...tracker.close()]) expect(zoneEventSchema.parse(event)).toEqual(event);
    expect(zoneEventSchema.safeParse({ ...events[0], share: 2 }).success).toBe(false);
    expect(zoneEventSchema.safeParse({ ...events[0], extra: 1 }).success).toBe(false);
  });
});
