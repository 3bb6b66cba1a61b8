/** The embedded default model (MediaPipe selfie, imported from its npm package) on real photos. */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, runCli, tempDir } from '../helpers/fixtures.js';

// The public-domain test photo lives in the team's shared folder beside the repository (CI has it);
// a checkout without it skips these tests rather than fail them.
const media = path.resolve(repoRoot, '../shared/media');
const haveMedia = existsSync(path.join(media, 'astronaut.png'));
const tmp = tempDir('dls-default-');
afterAll(() => tmp.cleanup());

async function segment(image: string): Promise<{ width: number; height: number; mask: Buffer; personShare: number }> {
  const out = path.join(tmp.dir, path.basename(image, '.png'));
  const r = await runCli([
    'segment',
    path.join(media, image),
    '--device',
    'cpu',
    '--masks',
    out,
    '--frames-json',
    `${out}.jsonl`,
    '--json',
  ]);
  expect(r.code, r.stderr).toBe(0);
  const stats = JSON.parse(readFileSync(`${out}.jsonl`, 'utf8').trim()) as {
    width: number;
    height: number;
    pixels: Record<string, number>;
  };
  const mask = execFileSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    path.join(out, 'frame_000000.png'),
    '-f',
    'rawvideo',
    '-pix_fmt',
    'gray',
    '-',
  ]);
  return {
    width: stats.width,
    height: stats.height,
    mask,
    personShare: (stats.pixels['person'] ?? 0) / (stats.width * stats.height),
  };
}

describe('default model', () => {
  it.skipIf(!haveMedia)('finds the person in the astronaut photo and not the sky behind her', async () => {
    const { width, mask, personShare } = await segment('astronaut.png');
    const label = (x: number, y: number) => mask[y * width + x];
    expect(personShare).toBeGreaterThan(0.3);
    expect(personShare).toBeLessThan(0.8);
    expect(label(256, 120)).toBe(1); // face
    expect(label(256, 330)).toBe(1); // torso
    expect(label(20, 20)).toBe(0); // top-left background
    expect(label(490, 40)).toBe(0); // top-right background
  });

  it('finds no person in a blank grey frame (a selfie model still marks any salient object, so a cup would not do)', async () => {
    const gray = path.join(tmp.dir, 'gray.png');
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      'color=c=0x808080:s=320x240',
      '-frames:v',
      '1',
      gray,
    ]);
    const out = path.join(tmp.dir, 'gray-out');
    const r = await runCli(['segment', gray, '--device', 'cpu', '--frames-json', `${out}.jsonl`]);
    expect(r.code, r.stderr).toBe(0);
    const stats = JSON.parse(readFileSync(`${out}.jsonl`, 'utf8').trim()) as { pixels: Record<string, number> };
    expect(stats.pixels['person'] ?? 0).toBeLessThan(320 * 240 * 0.01);
  });
});
