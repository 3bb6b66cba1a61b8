/**
 * A zone as users write it (the REST API, the config file, the state file): a polygon in shares of
 * the frame's width and height, the classes it watches, and the hysteresis that turns a share into
 * a state. Everything here arrives from outside: checked in full (zod, strict), with one line saying
 * what is wrong.
 *
 *   [{ "name": "crossing", "polygon": [[0.1,0.6],[0.5,0.6],[0.5,1],[0.1,1]],
 *      "classes": ["person"], "minShare": 0.02, "minSeconds": 1 }]
 *   → ZoneSpec[]  (or UsageError: 'zone 1 (crossing): polygon.2: …')
 */
import { z } from 'zod';
import { UsageError } from '../core/errors.js';

/** Zones per stream at most: each costs a pass over its pixels every frame. */
export const MAX_ZONES_PER_STREAM = 64;
/** Corners per polygon at most (a zone drawn by clicking has a handful). */
export const MAX_POLYGON_POINTS = 256;

const share = z.number().finite().min(0).max(1);

const zoneSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9][A-Za-z0-9 _.-]*$/, 'letters, digits, space, _ . - (starting with a letter or digit)'),
  polygon: z
    .array(z.tuple([share, share]))
    .min(3)
    .max(MAX_POLYGON_POINTS),
  classes: z
    .array(z.string().min(1).max(200))
    .min(1)
    .max(64)
    .refine((c) => new Set(c).size === c.length, 'a class is listed twice'),
  /** Share of the zone's pixels (0–1] that the listed classes must cover to count. */
  minShare: z.number().finite().gt(0).max(1).default(0.02),
  /** Seconds the share must stay above (or below) minShare before the state changes. */
  minSeconds: z.number().finite().min(0).max(3600).default(1),
});

export type ZoneSpec = z.output<typeof zoneSchema>;

const zonesSchema = z.array(z.unknown()).max(MAX_ZONES_PER_STREAM);

/**
 * Checks a stream's zones against the model's class names. `what` names the source in the line
 * (`PUT /api/streams/cam/zones`, `config.yaml streams[0].zones`).
 */
export function parseZones(value: unknown, classNames: readonly string[], what: string): ZoneSpec[] {
  const list = zonesSchema.safeParse(value);
  if (!list.success)
    throw new UsageError(
      `${what}: zones are a JSON array of at most ${MAX_ZONES_PER_STREAM} zones, each {"name", "polygon": [[x,y],…], "classes": […]}`,
    );
  const zones: ZoneSpec[] = [];
  const names = new Set<string>();
  list.data.forEach((item, i) => {
    const named = typeof (item as { name?: unknown } | null)?.name === 'string' ? (item as { name: string }).name : '';
    const which = `zone ${i + 1}${named && named.length <= 64 ? ` (${named})` : ''}`;
    const parsed = zoneSchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      throw new UsageError(`${what}: ${which}: ${where}${issue.message}`);
    }
    const zone = parsed.data;
    if (names.has(zone.name)) throw new UsageError(`${what}: ${which}: two zones are named ${zone.name}`);
    names.add(zone.name);
    const unknown = zone.classes.filter((c) => !classNames.includes(c));
    if (unknown.length > 0)
      throw new UsageError(
        `${what}: ${which}: ${unknown.map((c) => JSON.stringify(c.slice(0, 60))).join(', ')} ${unknown.length === 1 ? 'is' : 'are'} not a class of the model (its classes: ${classNames.join(', ')})`,
      );
    if (polygonArea(zone.polygon) === 0)
      throw new UsageError(`${what}: ${which}: the polygon encloses no area (its corners are on one line)`);
    zones.push(zone);
  });
  return zones;
}

/** The polygon's area in shares of the frame (shoelace; 0 for a degenerate one). */
export function polygonArea(polygon: readonly (readonly [number, number])[]): number {
  let twice = 0;
  for (let i = 0; i < polygon.length; i++) {
    const [x0, y0] = polygon[i]!;
    const [x1, y1] = polygon[(i + 1) % polygon.length]!;
    twice += x0 * y1 - x1 * y0;
  }
  return Math.abs(twice) / 2;
}
