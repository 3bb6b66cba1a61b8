import { describe, expect, it } from 'vitest';
import type { Frame, WindowScores } from '../../core/frames.js';
import type { InputSpec } from '../../model/descriptor.js';
import { tileWindows } from '../../model/tiles.js';
import { WindowRefresh } from '../../model/windowRefresh.js';

const WIDTH = 160;
const HEIGHT = 120;
/** A 3×2 grid of windows over the frame, as `--tiles 3x2` plans them. */
const specs: InputSpec[] = tileWindows(WIDTH, HEIGHT, { cols: 3, rows: 2 }, 0.25).map((window) => ({
  width: 33,
  height: 33,
  flipped: false,
  window,
}));

/** Grey block noise everywhere (as compressed video has), and bright squares where something is. */
function frame(capturedAt: number, squares: readonly { x: number; y: number }[] = [], seed = 1): Frame {
  const rgb = new Uint8Array(WIDTH * HEIGHT * 3);
  let state = seed;
  for (let p = 0; p < WIDTH * HEIGHT; p++) {
    state = (state * 1103515245 + 12345) >>> 0;
    rgb.fill(100 + ((state >>> 16) % 17) - 8, p * 3, p * 3 + 3); // ±8 levels
  }
  for (const { x, y } of squares)
    for (let dy = 0; dy < 12; dy++)
      for (let dx = 0; dx < 12; dx++)
        rgb.fill(240, ((y + dy) * WIDTH + x + dx) * 3, ((y + dy) * WIDTH + x + dx) * 3 + 3);
  return { streamId: 'cam', index: 0, ptsMs: capturedAt, width: WIDTH, height: HEIGHT, rgb, capturedAt, decodeMs: 0 };
}

/** The scores a run of these windows gives: what is stored is kept as it is. */
function scoresOf(run: readonly InputSpec[], tag: number): WindowScores[] {
  return run.map((spec) => ({
    window: spec.window!,
    input: { width: spec.width, height: spec.height },
    scores: { data: new Float32Array([tag]), offset: 0, classes: 1, height: 1, width: 1, layout: 'NHWC' },
  }));
}

/** Index of the window a spec is, in `specs`. */
const indexOf = (spec: InputSpec) => specs.indexOf(spec);
/** The windows containing the pixel (x, y). */
const covering = (x: number, y: number) =>
  specs
    .map((s, i) => ({ w: s.window!, i }))
    .filter(({ w }) => x >= w.x && x < w.x + w.width && y >= w.y && y < w.y + w.height)
    .map(({ i }) => i);

describe('WindowRefresh', () => {
  it('runs every window of the first frame, then only those where something moved; noise is not movement', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 6 });
    const first = refresh.choose(frame(0, [{ x: 10, y: 10 }]), specs);
    expect(first.run).toHaveLength(6);
    expect(first.reused).toHaveLength(0);
    refresh.store('cam', 0, scoresOf(first.run, 1));

    // The same picture with other noise: nothing runs, every window reuses its scores, 100 ms old.
    const still = refresh.choose(frame(100, [{ x: 10, y: 10 }], 7), specs);
    expect(still.run).toHaveLength(0);
    expect(still.reused).toHaveLength(6);
    expect(still.oldestMs).toBe(100);

    // The square moves to the bottom right: the windows where it was and where it is run, no other.
    const moved = refresh.choose(frame(200, [{ x: 140, y: 100 }], 9), specs);
    const expected = new Set([...covering(10, 10), ...covering(145, 105)]);
    expect(new Set(moved.run.map(indexOf))).toEqual(expected);
    expect(moved.reused).toHaveLength(6 - expected.size);
  });

  it('runs at most its budget, the windows that moved most first', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 1 });
    refresh.store('cam', 0, scoresOf(refresh.choose(frame(0), specs).run, 1));
    // Two squares in the top-right window's own corner, one in the bottom-left's.
    const next = refresh.choose(
      frame(100, [
        { x: 140, y: 2 },
        { x: 146, y: 14 },
        { x: 2, y: 100 },
      ]),
      specs,
    );
    expect(next.run.map(indexOf)).toEqual(covering(150, 8));
  });

  it('bounds the age: still windows refresh past half of maxAgeMs within the budget, and all run at maxAgeMs', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 500, budget: 1 });
    refresh.store('cam', 0, scoresOf(refresh.choose(frame(0), specs).run, 1));
    expect(refresh.choose(frame(200), specs).run).toHaveLength(0);
    for (const at of [300, 400]) {
      const ageing = refresh.choose(frame(at), specs);
      expect(ageing.run).toHaveLength(1);
      refresh.store('cam', at, scoresOf(ageing.run, 2));
    }
    // The four others reach the bound together: all run, whatever the budget.
    const due = refresh.choose(frame(500), specs);
    expect(due.run).toHaveLength(4);
    expect(due.reused.map((w) => w.ageMs).sort()).toEqual([100, 200]);
    expect(due.oldestMs).toBe(200);
  });

  it('runs a window again before its scores are back only if its picture moved since; keeps only the newest scores', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 6 });
    refresh.store('cam', 0, scoresOf(refresh.choose(frame(0), specs).run, 1));
    const a = refresh.choose(frame(100, [{ x: 10, y: 10 }]), specs);
    expect(a.run.map(indexOf)).toEqual(covering(10, 10));
    // Chosen before a's scores are back: the same picture waits for them (and reuses the older ones) …
    const b = refresh.choose(frame(150, [{ x: 10, y: 10 }]), specs);
    expect(b.run).toHaveLength(0);
    expect(b.reused.map((w) => w.scores.data[0])).toEqual(specs.map(() => 1));
    // … a picture that moved again runs again.
    const c = refresh.choose(frame(200, [{ x: 26, y: 10 }]), specs);
    expect(c.run.map(indexOf)).toEqual(covering(26, 10));
    refresh.store('cam', 200, scoresOf(c.run, 3));
    // a's scores arrive after c's: they are older, and replace nothing.
    refresh.store('cam', 100, scoresOf(a.run, 2));
    const d = refresh.choose(frame(300, [{ x: 26, y: 10 }]), specs);
    expect(d.run).toHaveLength(0);
    const kept = d.reused.filter((w) => c.run.some((s) => s.window === w.window));
    expect(kept.map((w) => w.scores.data[0])).toEqual(c.run.map(() => 3));
    expect(kept.map((w) => w.ageMs)).toEqual(c.run.map(() => 100));
  });

  it('runs every window of every frame for a model whose scores are too large to cache, and asks none back', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 2 });
    const first = refresh.choose(frame(0), specs);
    expect(first.keep).toBe(true);
    // Full-resolution scores (the dimensions are what counts: 1025×1024 values a window).
    refresh.store(
      'cam',
      0,
      first.run.map((spec) => ({
        window: spec.window!,
        input: { width: spec.width, height: spec.height },
        scores: { data: new Float32Array(1), offset: 0, classes: 1, height: 1024, width: 1025, layout: 'NHWC' },
      })),
    );
    const next = refresh.choose(frame(100), specs);
    expect(next.run).toHaveLength(6);
    expect(next.reused).toHaveLength(0);
    expect(next.keep).toBe(false);
  });

  it("measures its budget: what the workers keep up with at the camera's rate, frames dropped before it counted", () => {
    /** Windows run per frame, once settled, when every window changes every frame. */
    const settled = (intervalMs: number, indexStep: number) => {
      const refresh = new WindowRefresh({ maxAgeMs: 60_000, workers: 2 });
      refresh.noteCost(25); // two workers: 80 windows a second, 48 of them for windows
      let runs = 0;
      for (let i = 0; i < 30; i++) {
        const at = i * intervalMs;
        const picture = { ...frame(at, i % 2 ? [] : [{ x: 0, y: 0 }]), index: i * indexStep };
        // Every window changes: the whole picture flips between two greys.
        picture.rgb.fill(i % 2 ? 60 : 200);
        const choice = refresh.choose(picture, specs);
        runs = choice.run.length;
        refresh.store('cam', at, scoresOf(choice.run, i));
      }
      return runs;
    };
    expect(settled(100, 1)).toBe(3); // 10 fps: 48 / 10 keeps up, but 80 ms of a frame's windows is 3
    expect(settled(40, 1)).toBe(1); // 25 fps: 48 / 25
    // Pulled at 10 fps from a 30 fps camera (two of three frames dropped before inference): 48 / 30.
    expect(settled(100, 3)).toBe(1);
  });

  it('runs every window of the streams it does not apply to', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 1, appliesTo: (id) => id !== 'cam' });
    refresh.store('cam', 0, scoresOf(refresh.choose(frame(0), specs).run, 1));
    expect(refresh.choose(frame(100), specs)).toEqual({ run: specs, reused: [], oldestMs: 0, keep: false });
  });

  it('starts a stream afresh when its frames change size, and forgets a stream that left', () => {
    const refresh = new WindowRefresh({ maxAgeMs: 1000, budget: 6 });
    refresh.store('cam', 0, scoresOf(refresh.choose(frame(0), specs).run, 1));
    expect(refresh.choose(frame(100), specs).run).toHaveLength(0);
    expect(refresh.choose(frame(200), specs.slice(0, 4)).run).toHaveLength(4);
    refresh.forget('cam');
    expect(refresh.choose(frame(300), specs).run).toHaveLength(6);
  });
});
