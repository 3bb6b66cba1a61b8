import type { StageTimings } from '../core/frames.js';

export type StageName = keyof StageTimings;

/** Sums per-stage milliseconds over a run and reports means per frame. */
export class RunStats {
  private readonly totals: Record<StageName, number> = {
    decode: 0,
    preprocess: 0,
    queue: 0,
    infer: 0,
    postprocess: 0,
    crf: 0,
    write: 0,
  };
  framesOut = 0;
  readonly startedAt = performance.now();

  add(timings: StageTimings): void {
    for (const key of Object.keys(timings) as StageName[]) this.totals[key] += timings[key];
    this.framesOut += 1;
  }

  get elapsedMs(): number {
    return performance.now() - this.startedAt;
  }

  get fps(): number {
    return this.framesOut / Math.max(this.elapsedMs / 1000, 1e-9);
  }

  meanMsPerStage(): Record<StageName, number> {
    const n = Math.max(this.framesOut, 1);
    return Object.fromEntries(
      Object.entries(this.totals).map(([k, v]) => [k, Math.round((v / n) * 100) / 100]),
    ) as Record<StageName, number>;
  }
}
