/** What the `segment` command tests share: a generated 21-class model and a 23-frame clip, made once per test file. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { tempDir, writeClip, writeModel } from './fixtures.js';

export interface SegmentFixture {
  readonly tmp: { readonly dir: string };
  /** The model file and the clip (23 frames: not a multiple of the batch), there once the file's tests start. */
  readonly model: string;
  readonly clip: string;
  /** A fresh folder for one test's outputs. */
  dir(name: string): string;
  /** CPU and a small input: the tests run fast. */
  readonly fast: readonly string[];
}

/** Registers the file's beforeAll / afterAll that make and remove the fixture. */
export function useSegmentFixture(): SegmentFixture {
  const tmp = tempDir('dls-cli-');
  const made = { model: '', clip: '' };
  beforeAll(async () => {
    made.model = writeModel(tmp.dir, { classes: 21 });
    made.clip = await writeClip(tmp.dir, 'clip23.mp4', { width: 160, height: 96, frames: 23 });
  });
  afterAll(() => tmp.cleanup());
  return {
    tmp,
    get model() {
      return made.model;
    },
    get clip() {
      return made.clip;
    },
    dir: (name) => {
      const d = path.join(tmp.dir, name);
      mkdirSync(d, { recursive: true });
      return d;
    },
    fast: ['--device', 'cpu', '--input-size', '81x49'],
  };
}
