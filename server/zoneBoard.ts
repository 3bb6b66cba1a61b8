/**
 * The zones of every stream a server shows, and what they said: each stream's ZoneTracker fed with
 * the shares its back end measured, every state change turned into an event for the server's
 * consumers (SSE, webhook, NATS) and into /metrics.
 *
 *   back end ─zonesMeasured(stream, frame, at, shares)─▶ ZoneBoard ─ZoneEvent─▶ listeners
 */
import { EventEmitter } from 'node:events';
import type { ZoneShares } from '../zones/zoneShares.js';
import type { ZoneSpec } from '../zones/zoneSpec.js';
import { type ZoneEvent, type ZoneState, ZoneTracker } from '../zones/zoneTracker.js';
import type { LiveMetrics } from './metrics.js';

export interface ZoneBoardEvents {
  event: [event: ZoneEvent];
}

export class ZoneBoard extends EventEmitter<ZoneBoardEvents> {
  private readonly trackers = new Map<string, ZoneTracker>();

  constructor(private readonly metrics: LiveMetrics) {
    super();
  }

  zonesOf(stream: string): ZoneSpec[] {
    return this.trackers.get(stream)?.zones ?? [];
  }

  states(stream: string): ZoneState[] {
    return this.trackers.get(stream)?.states() ?? [];
  }

  /** Every stream's zones (for the state file). */
  all(): Record<string, ZoneSpec[]> {
    return Object.fromEntries([...this.trackers].map(([stream, tracker]) => [stream, tracker.zones]));
  }

  /** The stream's zones are now these; occupied zones removed or changed are told free. */
  set(stream: string, zones: readonly ZoneSpec[]): void {
    const tracker = this.trackers.get(stream);
    const ended = tracker ? tracker.replace(zones) : [];
    if (!tracker && zones.length > 0) this.trackers.set(stream, new ZoneTracker(stream, zones));
    if (tracker && zones.length === 0) this.trackers.delete(stream);
    this.metrics.zonesChanged(stream, zones);
    for (const event of ended) this.tell(event);
  }

  /** The stream is gone: its occupied zones are told free. */
  remove(stream: string): void {
    const tracker = this.trackers.get(stream);
    this.trackers.delete(stream);
    this.metrics.zonesChanged(stream, []);
    for (const event of tracker?.close() ?? []) this.tell(event);
  }

  /** The stream ended: its occupied zones are told free. */
  ended(stream: string): void {
    for (const event of this.trackers.get(stream)?.ended() ?? []) this.tell(event);
  }

  measured(stream: string, frame: number, capturedAt: number, shares: readonly ZoneShares[]): void {
    const tracker = this.trackers.get(stream);
    if (!tracker) return;
    const events = tracker.observe(shares, frame, capturedAt);
    this.metrics.zonesMeasured(stream, tracker.states(), tracker.zones);
    for (const event of events) this.tell(event);
  }

  private tell(event: ZoneEvent): void {
    this.metrics.zoneEvent(event);
    this.emit('event', event);
  }
}
