import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../core/errors.js';
import { describeModel, UnknownClassAxisError } from '../../model/descriptor.js';
import { OnnxGraphBuilder } from '../../model/onnxGraph.js';
import { planRun } from '../../pipeline/runPlan.js';
import { runCli, tempDir, writeClip, writeModel } from '../helpers/fixtures.js';

const tmp = tempDir('dls-plan-');
afterAll(() => tmp.cleanup());

/** As torchvision exports DeepLab with dynamic sizes: the class axis left symbolic (`Resizeout_dim_1`). */
function symbolicClassAxisModel(classes: number): string {
  const g = new OnnxGraphBuilder(7);
  const x = g.input('input', [1, 3, 'height', 'width']);
  g.rename(g.conv(x, { out: classes, kernel: 1, bias: true }), 'out');
  g.output('out', [1, 'Resizeout_dim_1', 'height', 'width']);
  const file = path.join(tmp.dir, `symbolic-${classes}.onnx`);
  writeFileSync(file, g.toBytes('symbolic_class_axis'));
  return file;
}

describe('planRun', () => {
  it('measures a class axis the graph leaves open with one run, and says so', async () => {
    const model = symbolicClassAxisModel(5);
    expect(() => describeModel(readFileSync(model), model)).toThrow(UnknownClassAxisError);
    const plan = await planRun({ modelPath: model });
    expect(plan.descriptor.classes).toBe(5);
    expect(plan.descriptor.outputKind).toBe('scores');
    expect(plan.notes).toEqual([
      `${model}: the graph leaves the class axis open; one run on a 65x65 input gives 5 classes`,
    ]);
    // As a user runs it: segment works and tells what it inferred.
    const clip = await writeClip(tmp.dir, 'clip.mp4', { width: 96, height: 64, frames: 3 });
    const out = path.join(tmp.dir, 'f.jsonl');
    const r = await runCli(['segment', clip, '--model', model, '--device', 'cpu', '--frames-json', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('note: ');
    expect(r.stderr).toContain('gives 5 classes');
    expect(existsSync(out)).toBe(true);
  });

  it('checks flags against the model before anything runs', async () => {
    const fixed = writeModel(tmp.dir, { classes: 4, inputSize: [65, 49] }, 'fixed.onnx');
    await expect(planRun({ modelPath: fixed, inputSize: [33, 33] })).rejects.toThrow(UsageError);
    await expect(planRun({ modelPath: fixed, inputSize: [33, 33] })).rejects.toThrow(
      /^--input-size 33x33 does not fit .*fixed\.onnx, which takes exactly (65x49|49x65)$/,
    );
    await expect(planRun({ modelPath: fixed, scales: [0.5, 1] })).rejects.toThrow(
      /--scales needs a model with a dynamic input size/,
    );
    const dynamic = writeModel(tmp.dir, { classes: 4 }, 'dynamic.onnx');
    await expect(planRun({ modelPath: dynamic, batchSize: 2, mixedSizes: true })).rejects.toThrow(
      /--batch above 1 batches frames of different streams together/,
    );
    const plan = await planRun({ modelPath: dynamic, scales: [0.5, 1], flip: true });
    expect(plan.inputsFor(640, 360).map((s) => `${s.width}x${s.height}${s.flipped ? 'f' : ''}`)).toHaveLength(4);
  });
});
