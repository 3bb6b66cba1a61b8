/**
 * What a zone event is, as every consumer gets it (SSE, webhook, deeplab.events.<stream>): one zod
 * schema, from which the type and the published JSON Schema (`docs/zone-event.schema.json`,
 * `npm run schema` writes it, a test holds it to this) are derived.
 *
 *   {"type": "zone.occupied", "stream": "cam", "zone": "crossing", "classes": ["person"],
 *    "share": 0.031, "at": "2026-12-07T00:07:51.428Z", "frame": 412}
 */
import { z } from 'zod';

export const zoneEventSchema = z
  .strictObject({
    type: z
      .enum(['zone.occupied', 'zone.free'])
      .describe('occupied: the classes covered at least minShare of the zone for minSeconds; free: below it as long'),
    stream: z.string().min(1).max(100).describe("the stream's id"),
    zone: z.string().min(1).max(64).describe("the zone's name"),
    classes: z.array(z.string()).min(1).describe('the classes the zone watches'),
    share: z
      .number()
      .min(0)
      .max(1)
      .describe("the classes' share of the zone's pixels on the frame that decided it (exact, from the label map)"),
    at: z.iso.datetime().describe('when that frame was captured (UTC)'),
    frame: z.number().int().min(-1).describe("that frame's index in its stream (-1: none was measured yet)"),
    clip: z.string().optional().describe('the event clip, served at /api/clips/<clip> (with --clips)'),
  })
  .describe('A zone event of deeplab-stream serve');

export type ZoneEvent = z.infer<typeof zoneEventSchema>;

/** What an event clip's name may be (`GET /api/clips/<name>`): no path, nothing hidden. */
export const CLIP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.mp4$/;

/** The JSON Schema of a zone event, as published in docs/. */
export function zoneEventJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(zoneEventSchema);
}
