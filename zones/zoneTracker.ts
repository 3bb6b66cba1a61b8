/**
 * The zones of one stream over time: each frame's shares in, `zone.occupied` / `zone.free` events
 * out. A zone becomes occupied once its share has stayed ≥ `minShare` for `minSeconds`, and free
 * once it has stayed below as long — a one-frame blip (DeepLab's flicker, a codec artefact) never
 * flips it, and a person standing still keeps it occupied. Time is the frames' capture time, so a
 * stream that drops frames keeps the same clock.
 *
 *   const tracker = new ZoneTracker('cam', zones);
 *   tracker.observe(zoneMeasure(zones, classNames)(labels, w, h), frameIndex, capturedAtMs) → ZoneEvent[] (usually [])
 *   tracker.states() → [{ name, occupied, share, shares, since }]
 */
import type { ZoneSpec } from './zoneSpec.js';
import type { ZoneEvent } from './zoneEvent.js';
import type { ZoneShares } from './zoneShares.js';

export type { ZoneEvent } from './zoneEvent.js';

export interface ZoneState {
  readonly name: string;
  readonly occupied: boolean;
  /** The latest frame's shares: all listed classes together, and each. */
  readonly share: number;
  readonly shares: Readonly<Record<string, number>>;
  /** When the zone last changed state (ms since the epoch); null if never. */
  readonly since: number | null;
}

interface Tracked {
  readonly spec: ZoneSpec;
  occupied: boolean;
  /** Since when the share has disagreed with the state (ms), or null while it agrees. */
  disagreeingSince: number | null;
  since: number | null;
  last: ZoneShares | null;
}

export class ZoneTracker {
  private tracked: Tracked[] = [];
  private lastFrame = { index: -1, atMs: 0 };

  constructor(
    readonly stream: string,
    zones: readonly ZoneSpec[],
  ) {
    this.tracked = zones.map((spec) => ({ spec, occupied: false, disagreeingSince: null, since: null, last: null }));
  }

  get zones(): ZoneSpec[] {
    return this.tracked.map((t) => t.spec);
  }

  /**
   * One frame's shares (by zone name: a measure of zones since replaced is matched where the names
   * still are); returns the zones that changed state on it.
   */
  observe(measured: readonly ZoneShares[], frame: number, atMs: number): ZoneEvent[] {
    if (atMs < this.lastFrame.atMs) return []; // an older frame, finished late: the state has moved on
    this.lastFrame = { index: frame, atMs };
    const events: ZoneEvent[] = [];
    measured.forEach((shares) => {
      const t = this.tracked.find((candidate) => candidate.spec.name === shares.zone);
      if (!t) return;
      t.last = shares;
      const above = shares.share >= t.spec.minShare;
      if (above === t.occupied) {
        t.disagreeingSince = null;
        return;
      }
      t.disagreeingSince ??= atMs;
      if (atMs - t.disagreeingSince < t.spec.minSeconds * 1000) return;
      t.occupied = above;
      t.disagreeingSince = null;
      t.since = atMs;
      events.push(this.event(t, above ? 'zone.occupied' : 'zone.free', shares.share, frame, atMs));
    });
    return events;
  }

  /**
   * New zones for the stream. A zone kept as it was keeps its state; an occupied zone that is
   * removed or changed is told free (a consumer that saw it occupied sees it end).
   */
  replace(zones: readonly ZoneSpec[]): ZoneEvent[] {
    const key = (spec: ZoneSpec) => JSON.stringify(spec);
    const kept = new Map(this.tracked.map((t) => [key(t.spec), t]));
    const next = zones.map(
      (spec) =>
        kept.get(key(spec)) ?? {
          spec,
          occupied: false,
          disagreeingSince: null,
          since: null,
          last: null as ZoneShares | null,
        },
    );
    const events = this.end(this.tracked.filter((t) => !next.includes(t)));
    this.tracked = next;
    return events;
  }

  /** The stream is removed: its occupied zones are told free. */
  close(): ZoneEvent[] {
    const events = this.end(this.tracked);
    this.tracked = [];
    return events;
  }

  /** The stream ended (nothing more will be seen): its occupied zones are told free, and are. */
  ended(): ZoneEvent[] {
    const events = this.end(this.tracked);
    const atMs = Math.max(Date.now(), this.lastFrame.atMs);
    for (const t of this.tracked.filter((t) => t.occupied))
      Object.assign(t, { occupied: false, disagreeingSince: null, since: atMs });
    return events;
  }

  states(): ZoneState[] {
    return this.tracked.map((t) => ({
      name: t.spec.name,
      occupied: t.occupied,
      share: t.last?.share ?? 0,
      shares: t.last?.shares ?? {},
      since: t.since,
    }));
  }

  private end(gone: readonly Tracked[]): ZoneEvent[] {
    const atMs = Math.max(Date.now(), this.lastFrame.atMs);
    return gone
      .filter((t) => t.occupied)
      .map((t) => this.event(t, 'zone.free', t.last?.share ?? 0, this.lastFrame.index, atMs));
  }

  private event(t: Tracked, type: ZoneEvent['type'], share: number, frame: number, atMs: number): ZoneEvent {
    return {
      type,
      stream: this.stream,
      zone: t.spec.name,
      classes: t.spec.classes,
      share,
      at: new Date(atMs).toISOString(),
      frame,
    };
  }
}
