/**
 * Tiles at the camera's rate (live): a frame runs the model on the windows where its picture
 * changed, not on all of them, and reuses the other windows' last scores. Each stream keeps, per
 * window, the scores it last got and a luma sketch of the pixels they were made from.
 *
 *   choose(frame, 12 windows) → run: the windows whose pixels moved most since their latest run
 *                                    (at most `budget`; where it has room, still windows past half
 *                                    `maxAgeMs`, oldest first), plus any whose scores reached `maxAgeMs`
 *                               reused: every other window's cached scores, with their age
 *   store(segmentation's fresh windows) → the cache, newest scores only
 *
 * The bound: no pixel's scores are older than `maxAgeMs` (plus the frames in flight) — a window
 * that reaches it runs whatever the budget. A window where nothing moved keeps scores of the same
 * picture; a window still waiting for its first scores always runs.
 */
import type { Frame, FrameWindow, WindowScores } from '../core/frames.js';
import type { InputSpec } from './descriptor.js';

export interface WindowRefreshOptions {
  /** The oldest a window's scores may get, in ms of capture time. */
  readonly maxAgeMs: number;
  /**
   * Windows a frame runs at most, besides those at `maxAgeMs` or without scores. Default: what the
   * inference workers keep up with at the cameras' rates (a third of the windows until measured).
   */
  readonly budget?: number;
  /** Inference workers running side by side (the measured budget's capacity). */
  readonly workers?: number;
  /** The streams it applies to (default: all); the others run every window of every frame. */
  readonly appliesTo?: (streamId: string) => boolean;
}

/** A window's cached scores, and how old they are for the frame that reuses them. */
export interface ReusedWindow extends WindowScores {
  readonly ageMs: number;
}

export interface WindowChoice {
  readonly run: readonly InputSpec[];
  readonly reused: readonly ReusedWindow[];
  /** The oldest scores the frame is made of (0: all fresh). */
  readonly oldestMs: number;
  /** The fresh windows' scores are wanted back (to be cached). */
  readonly keep: boolean;
}

/** Luma sampled every SKETCH_STEP pixels: a window's change is the share of its samples that moved. */
const SKETCH_STEP = 4;
/** A sample moved when its luma changed by more than this (compression's block noise stays below). */
const MOVED_LUMA = 24;
/** A window changed when at least this share of its samples moved (one walking pedestrian in a window is more). */
const CHANGED_SHARE = 0.002;
/**
 * A window's scores are cached up to this many values (4 MB): DeepLab's low-resolution scores are
 * ~23k (33×33×21) to ~640k (65×65×151). A model that gives full-resolution scores (257×257×21 is
 * 1.4M) would copy more per frame than its windows cost: its windows all run, every frame.
 */
const MAX_CACHED_SCORES = 1 << 20;
/**
 * The measured budget spends this share of the workers' time on windows: the rest is for the CRF,
 * the sinks and the other streams (at 0.6, vtest.avi's 12 windows at 10 fps run 4 a frame and keep
 * the camera's rate with the CRF on).
 */
const WINDOW_SHARE = 0.6;
/**
 * A frame's windows run on one worker, one after another: this much of its time at most, so that a
 * frame's latency stays near the camera's frame time (vtest.avi's 12 windows of ~20 ms: 4 a frame).
 */
const WINDOWS_MS_PER_FRAME = 80;
/** A stream whose last frame is older than this is not counted in the demand. */
const IDLE_MS = 5000;

interface CachedWindow {
  scores: WindowScores | null;
  /** Capture time of the frame the cached scores were made from. */
  madeAt: number;
  /** The luma sketch of that frame, inside this window. */
  sketch: Uint8Array | null;
  /** Runs chosen for frames and not stored yet: each frame's capture time and sketch. */
  pending: { at: number; sketch: Uint8Array }[];
}

/** The luma samples of a frame inside a window, row by row (every SKETCH_STEP pixels). */
function sketchOf(frame: Frame, window: FrameWindow): Uint8Array {
  const { rgb, width } = frame;
  const cols = Math.ceil(window.width / SKETCH_STEP);
  const rows = Math.ceil(window.height / SKETCH_STEP);
  const out = new Uint8Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    const row = (window.y + r * SKETCH_STEP) * width;
    for (let c = 0; c < cols; c++) {
      const p = (row + window.x + c * SKETCH_STEP) * 3;
      out[r * cols + c] = (rgb[p]! * 77 + rgb[p + 1]! * 150 + rgb[p + 2]! * 29) >> 8;
    }
  }
  return out;
}

/** The share of samples whose luma moved by more than MOVED_LUMA. */
function movedShare(a: Uint8Array, b: Uint8Array): number {
  let moved = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > MOVED_LUMA) moved++;
  return moved / a.length;
}

const keyOf = (w: FrameWindow) => `${w.x},${w.y},${w.width},${w.height}`;

export class WindowRefresh {
  /** Per stream: its windows' cache, and the frame size and window count it was made for. */
  private readonly streams = new Map<
    string,
    {
      layout: string;
      windows: Map<string, CachedWindow>;
      tooLarge: boolean;
      /** Its latest frame (capture time and index), and the camera's rate from index and time (frames/s). */
      last: { at: number; index: number } | null;
      rate: number | null;
    }
  >();
  /** Measured milliseconds a window takes on one worker (moving average). */
  private msPerWindow: number | null = null;
  /**
   * The share of the measured budget in use: cut by a sixth when a tiled stream's frame was dropped
   * before inference (the CRF and the sinks took more of the cores than the estimate left them),
   * grown back slowly while none is.
   */
  private pace = 1;

  constructor(private readonly options: WindowRefreshOptions) {}

  /** Which of a frame's windows run, and the cached scores of the rest. `specs`: every window of the frame. */
  choose(frame: Frame, specs: readonly InputSpec[]): WindowChoice {
    if (this.options.appliesTo?.(frame.streamId) === false) return { run: specs, reused: [], oldestMs: 0, keep: false };
    // A stream whose frames changed size (a camera reconnected at another resolution) starts afresh.
    const layout = `${frame.width}x${frame.height}:${specs.length}`;
    let stream = this.streams.get(frame.streamId);
    if (stream?.layout !== layout)
      this.streams.set(
        frame.streamId,
        (stream = { layout, windows: new Map(), tooLarge: false, last: null, rate: null }),
      );
    // The camera's rate, from the frames' indices: frames dropped before inference count, so a
    // stream that falls behind does not look slower and get a larger budget.
    if (stream.last && frame.capturedAt > stream.last.at && frame.index > stream.last.index) {
      const rate = ((frame.index - stream.last.index) * 1000) / (frame.capturedAt - stream.last.at);
      stream.rate = stream.rate === null ? rate : 0.9 * stream.rate + 0.1 * rate;
      this.pace = frame.index - stream.last.index > 1 ? Math.max(0.1, this.pace * 0.85) : Math.min(1, this.pace + 0.02);
    }
    stream.last = { at: frame.capturedAt, index: frame.index };
    if (stream.tooLarge) return { run: specs, reused: [], oldestMs: 0, keep: false };
    const cache = stream.windows;
    const now = frame.capturedAt;
    const { maxAgeMs } = this.options;
    const budget = this.options.budget ?? this.measuredBudget(specs.length, now);
    type Candidate = { spec: InputSpec; entry: CachedWindow; sketch: Uint8Array; priority: number; due: boolean };
    /** Run whatever the budget: no scores yet, or scores at the age bound with none on their way. */
    const must: Candidate[] = [];
    /** The picture moved since the window's latest run (made or on its way): the most moved first. */
    const changed: Candidate[] = [];
    /** Still, and past half the age bound: refreshed ahead of the bound where the budget has room. */
    const ageing: Candidate[] = [];
    /** Each spec's cache entry, in order. */
    const entries: CachedWindow[] = [];
    for (const spec of specs) {
      const window = spec.window!;
      let entry = cache.get(keyOf(window));
      if (!entry) cache.set(keyOf(window), (entry = { scores: null, madeAt: 0, sketch: null, pending: [] }));
      entries.push(entry);
      // A run whose scores never came (its frame was lost) stops counting once it would be too old.
      entry.pending = entry.pending.filter((p) => now - p.at < maxAgeMs);
      const sketch = sketchOf(frame, window);
      if (!entry.scores || !entry.sketch) {
        must.push({ spec, entry, sketch, priority: Infinity, due: true });
        continue;
      }
      const age = now - entry.madeAt;
      const due = age >= maxAgeMs && entry.pending.length === 0;
      // Against the latest run's picture: a run still on its way counts, so a moving window runs every frame.
      const moved = movedShare(sketch, entry.pending.at(-1)?.sketch ?? entry.sketch);
      if (moved >= CHANGED_SHARE) changed.push({ spec, entry, sketch, priority: moved * (1 + age / maxAgeMs), due });
      else if (due) must.push({ spec, entry, sketch, priority: age, due });
      else if (age >= maxAgeMs / 2 && entry.pending.length === 0)
        ageing.push({ spec, entry, sketch, priority: age, due: false });
    }
    changed.sort((a, b) => b.priority - a.priority);
    ageing.sort((a, b) => b.priority - a.priority);
    const moving = changed.slice(0, budget);
    const chosen = [
      ...must,
      ...moving,
      // A window that moved beyond the budget still runs at the age bound.
      ...changed.slice(budget).filter((c) => c.due),
      ...ageing.slice(0, Math.max(0, budget - moving.length)),
    ];
    for (const c of chosen) c.entry.pending.push({ at: now, sketch: c.sketch });
    const running = new Set(chosen.map((c) => c.spec));
    const reused: ReusedWindow[] = [];
    let oldestMs = 0;
    specs.forEach((spec, i) => {
      const entry = entries[i]!;
      if (running.has(spec) || !entry.scores) return;
      const ageMs = Math.max(0, now - entry.madeAt);
      oldestMs = Math.max(oldestMs, ageMs);
      reused.push({ ...entry.scores, ageMs });
    });
    return { run: specs.filter((s) => running.has(s)), reused, oldestMs, keep: true };
  }

  /** Keeps a frame's fresh windows (scores made from the frame captured at `capturedAt`), unless newer ones are kept. */
  store(streamId: string, capturedAt: number, windows: readonly WindowScores[]): void {
    const stream = this.streams.get(streamId);
    if (!stream) return;
    if (windows.some((w) => w.scores.classes * w.scores.width * w.scores.height > MAX_CACHED_SCORES)) {
      stream.tooLarge = true;
      stream.windows.clear();
      return;
    }
    const cache = stream.windows;
    for (const scores of windows) {
      const entry = cache.get(keyOf(scores.window));
      if (!entry || capturedAt < entry.madeAt) continue;
      const run = entry.pending.find((p) => p.at === capturedAt);
      if (!run) continue; // not a run this window waits for
      entry.scores = scores;
      entry.madeAt = capturedAt;
      entry.sketch = run.sketch;
      entry.pending = entry.pending.filter((p) => p.at > capturedAt);
    }
  }

  /** How long the windows of a run took, each (a run's inference time over its windows). */
  noteCost(msPerWindow: number): void {
    if (!(msPerWindow > 0)) return;
    this.msPerWindow = this.msPerWindow === null ? msPerWindow : 0.8 * this.msPerWindow + 0.2 * msPerWindow;
  }

  /**
   * Windows a frame may run so that every tiled stream's camera rate fits WINDOW_SHARE of the
   * workers (less while frames are being dropped), and a frame's windows take WINDOWS_MS_PER_FRAME.
   */
  private measuredBudget(windows: number, now: number): number {
    let demand = 0; // frames a second of every tiled stream
    for (const s of this.streams.values()) if (s.rate !== null && s.last && now - s.last.at < IDLE_MS) demand += s.rate;
    if (this.msPerWindow === null || demand === 0) return Math.ceil(windows / 3);
    const capacity = ((this.options.workers ?? 1) * 1000) / this.msPerWindow; // windows a second
    const keepsUp = (this.pace * WINDOW_SHARE * capacity) / demand;
    const inTime = WINDOWS_MS_PER_FRAME / this.msPerWindow;
    return Math.max(1, Math.min(windows, Math.floor(Math.min(keepsUp, inTime))));
  }

  /** A stream that ended or left: its cache goes. */
  forget(streamId: string): void {
    this.streams.delete(streamId);
  }
}
