/** `segment`'s labels and their drawing: `--classes-shown`, `--overlay`, `--legend`. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { useSegmentFixture } from '../../helpers/segmentFixture.js';
import { runCli } from '../../helpers/fixtures.js';

const fixture = useSegmentFixture();
const { dir, fast } = fixture;
let model: string;
let clip: string;
beforeAll(() => ({ model, clip } = fixture));

describe('deeplab-stream segment, classes and overlays', () => {
  it('--classes-shown runs the argmax over those classes and background: the others never win a pixel', async () => {
    const out = dir('classes-shown');
    const run = async (tag: string, args: string[]) => {
      const json = path.join(out, `${tag}.jsonl`);
      const r = await runCli(['segment', clip, '--model', model, ...fast, ...args, '--frames-json', json]);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(json, 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { pixels: Record<string, number> });
    };
    const all = await run('all', []);
    const present = new Set(all.flatMap((f) => Object.keys(f.pixels)));
    const others = [...present].filter((c) => c !== 'background');
    expect(others.length).toBeGreaterThan(1); // the generated model's frames hold more than one class
    const kept = others[0]!;
    const shown = await run('shown', ['--classes-shown', kept]);
    for (const [i, frame] of shown.entries()) {
      expect(Object.keys(frame.pixels).every((c) => c === 'background' || c === kept)).toBe(true);
      // The kept class wins at least where it won before; what the others won goes to it or background.
      expect(frame.pixels[kept] ?? 0).toBeGreaterThanOrEqual(all[i]!.pixels[kept] ?? 0);
    }
    const bad = await runCli([
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--classes-shown',
      'persn,car',
      '-o',
      path.join(out, 'x.mp4'),
    ]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(/^error: --classes-shown: persn is not a class of .*\(its classes: background, /);
    expect(readdirSync(out).filter((f) => f.startsWith('x'))).toEqual([]);
  });

  it('draws the overlay as asked — both (default), fill, outline; a legend unless --legend off — with the same labels', async () => {
    const out = dir('overlay-styles');
    const styles: Record<string, string[]> = {
      both: [],
      fill: ['--overlay', 'fill'],
      outline: ['--overlay', 'outline'],
      plain: ['--legend', 'off'],
    };
    const first: Record<string, Buffer> = {};
    const frames: Record<string, string> = {};
    for (const [tag, args] of Object.entries(styles)) {
      const json = path.join(out, `${tag}.jsonl`);
      const r = await runCli([
        'segment',
        clip,
        '--model',
        model,
        ...fast,
        ...args,
        '--frames-json',
        json,
        '-o',
        path.join(out, `${tag}_%03d.png`),
      ]);
      expect(r.code, r.stderr).toBe(0);
      first[tag] = readFileSync(path.join(out, `${tag}_001.png`));
      frames[tag] = readFileSync(json, 'utf8');
    }
    for (const tag of Object.keys(styles)) expect(frames[tag]).toBe(frames['both']);
    const tags = Object.keys(styles);
    for (const a of tags)
      for (const b of tags) if (a < b) expect(first[a]!.equals(first[b]!), `${a} vs ${b}`).toBe(false);
    const bad = await runCli([
      'segment',
      clip,
      '--model',
      model,
      ...fast,
      '--overlay',
      'dots',
      '-o',
      path.join(out, 'x.mp4'),
    ]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toMatch(
      /^error: option '--overlay <style>' argument 'dots' is invalid\. Allowed choices are fill, outline, both\.$/m,
    );
  });
});
