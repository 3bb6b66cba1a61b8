/**
 * Every catalogue DeepLab with a copy in ../shared/models, on real footage (vtest.avi, 795 frames of
 * 768×576: the issue's `segment vtest.avi --model M --frames-json`; `BENCH_QUICK=1`: its first 100),
 * each imported as `--model NAME` imports it (QDQ for the quantized ones):
 * - the pipeline, `segment … --frames-json --json` (decode, resize, inference workers, upsample,
 *   argmax, the JSON lines written): its fps from the first frame decoded to the last written
 *   (workers started before), and the whole process's;
 * - between the pipeline's runs, a bare `session.run` loop on one prepared frame (one session, 2
 *   intra-op threads, ~`BARE_SECONDS` s): each pipeline run is set against the mean of the bare runs
 *   just before and after it (this machine's speed swings within a minute), the median over rounds;
 * - the quantized graphs in QDQ form vs the same graphs dequantized to float (bare runs).
 * Skipped, with a message, where the shared folder is absent.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { type CatalogEntry, catalogSidecar, MODEL_CATALOG } from '../model/catalog.js';
import { PRESET_NORMALIZATION } from '../model/descriptor.js';
import { preprocessRgb, resizeRgbUint8 } from '../model/preprocess.js';
import { importTflite } from '../model/tflite/importTflite.js';
import { median, runMeasured, sessionRunsPerSecond } from './benchUtil.js';

/** Seconds of each bare run. */
const BARE_SECONDS = 8;

export interface CatalogueBenchOptions {
  readonly root: string;
  readonly cli: string;
  readonly work: string;
  readonly rounds: number;
  /** The first 100 frames instead of the whole video. */
  readonly quick: boolean;
  readonly say: (line: string) => void;
}

/** Published file name → the copy in ../shared/models. */
const SHARED_NAMES: Record<string, string> = {
  'deeplabv3_mnv2_ade20k_uint8.tflite': 'mlperf_deeplabv3_mnv2_ade20k_uint8.tflite',
};

/** A catalogue model imported (as `--model NAME` imports it, sidecar too) from ../shared/models into `work`, or null where its copy is absent. */
export function catalogueModelFile(root: string, work: string, entry: CatalogEntry): string | null {
  if (entry.source.kind !== 'download') return null;
  const tflite = path.resolve(root, '../shared/models', SHARED_NAMES[entry.source.file] ?? entry.source.file);
  if (!existsSync(tflite)) return null;
  const model = path.join(work, `${entry.name}.onnx`);
  writeFileSync(model, importTflite(readFileSync(tflite), tflite));
  writeFileSync(`${model}.json`, JSON.stringify(catalogSidecar(entry)));
  return model;
}

export async function benchCatalogue(o: CatalogueBenchOptions): Promise<Record<string, unknown> | null> {
  const { root, cli, work, rounds, quick, say } = o;
  say('\n## the catalogue DeepLabs on vtest.avi: bare session.run vs segment, int8 (QDQ) vs float');
  const video = path.resolve(root, '../shared/media/vtest.avi');
  if (!existsSync(video)) {
    say(`skipped: ${video} is absent (the team's shared folder beside the repository)`);
    return null;
  }
  let clip = video;
  if (quick) {
    clip = path.join(work, 'vtest-100.mkv');
    if (!existsSync(clip))
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', video, '-frames:v', '100', '-c', 'copy', clip]);
  }
  const rgb = execFileSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      video,
      '-vf',
      'select=eq(n\\,300)',
      '-frames:v',
      '1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-',
    ],
    {
      maxBuffer: 1 << 24,
    },
  );
  const results: Record<string, unknown> = {};
  say(
    '| model | input | bare fps, 2 threads (QDQ) | bare fps (float) | segment fps (whole process) | segment / bare (median of rounds) |',
  );
  say('|---|---|---|---|---|---|');
  for (const entry of MODEL_CATALOG) {
    const model = catalogueModelFile(root, work, entry);
    if (!model || entry.source.kind !== 'download') continue;
    const tflite = path.resolve(root, '../shared/models', SHARED_NAMES[entry.source.file] ?? entry.source.file);
    const floatModel = importTflite(readFileSync(tflite), tflite, { keepQuantization: false });
    const [width, height] = entry.inputSize;
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
    const uint8 = session.inputMetadata[0]?.isTensor === true && session.inputMetadata[0].type === 'uint8';
    await session.release();
    const input = uint8
      ? new ort.Tensor('uint8', resizeRgbUint8(rgb, 768, 576, width, height, 'NHWC'), [1, height, width, 3])
      : new ort.Tensor(
          'float32',
          preprocessRgb(rgb, 768, 576, width, height, 'NHWC', PRESET_NORMALIZATION[entry.normalize]),
          [1, height, width, 3],
        );
    const bare = async (graph: string | Uint8Array): Promise<number> => {
      const s =
        typeof graph === 'string'
          ? await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 })
          : await ort.InferenceSession.create(graph, { graphOptimizationLevel: 'all', intraOpNumThreads: 2 });
      return sessionRunsPerSecond(s, { [s.inputNames[0]!]: input }, 3, { seconds: BARE_SECONDS * (quick ? 0.5 : 1) });
    };
    const qdq: number[] = [await bare(model)];
    const float: number[] = [];
    const pipeline: number[] = [];
    const wholeProcess: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const run = await runMeasured(process.execPath, [
        cli,
        'segment',
        clip,
        '--model',
        model,
        '--device',
        'cpu',
        '--frames-json',
        path.join(work, 'catalogue.jsonl'),
        '--json',
      ]);
      if (run.code !== 0) throw new Error(`segment --model ${entry.name} failed: ${run.stderr}`);
      const summary = JSON.parse(run.stdout) as { fps: number; framesOut: number };
      pipeline.push(summary.fps);
      wholeProcess.push(summary.framesOut / (run.wallMs / 1000));
      qdq.push(await bare(model));
      ratios.push(summary.fps / ((qdq.at(-2)! + qdq.at(-1)!) / 2));
      float.push(await bare(floatModel));
    }
    const [b, f, p, whole, ratio] = [
      median(qdq),
      median(float),
      median(pipeline),
      median(wholeProcess),
      median(ratios),
    ];
    say(
      `| ${entry.name} | ${width}×${height} ${uint8 ? 'uint8' : 'float'} | ${b.toFixed(1)} | ${f.toFixed(1)} | ${p.toFixed(1)} (${whole.toFixed(1)}) | ${ratio.toFixed(2)} (${ratios.map((x) => x.toFixed(2)).join(', ')}) |`,
    );
    results[entry.name] = {
      bareFps: b,
      floatFps: f,
      segmentFps: p,
      processFps: whole,
      ratio,
      frames: quick ? 100 : 795,
      rounds: { qdq, float, pipeline, process: wholeProcess, ratios },
    };
  }
  return results;
}
