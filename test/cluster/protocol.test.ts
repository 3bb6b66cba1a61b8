/** The cluster's messages come from other machines: only the declared shapes get through. */
import { describe, expect, it } from 'vitest';
import { bundleFiles, unbundle } from '../../cluster/maskBundle.js';
import {
  type ChunkTask,
  encode,
  parseChunkDone,
  parseChunkTask,
  parseFrameResult,
  parseLiveTask,
  parseMaxDeliveriesAdvisory,
  parseStreamStatus,
  streamToken,
} from '../../cluster/protocol.js';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/fixtures.js';

const task: ChunkTask = {
  job: 'j1',
  chunk: 0,
  chunks: 2,
  input: 'j1/in-00000.mkv',
  model: { object: 'models/abc.onnx' },
  outputs: { video: true, masks: false },
  run: { batchSize: 1, crf: { params: { iterations: 5 }, warmStart: { iterations: 3, sceneCut: 0.3 } } },
};
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

describe('cluster messages', () => {
  it('reads back what it writes', () => {
    expect(parseChunkTask(encode(task))).toEqual(task);
    const done = {
      ok: true as const,
      job: 'j1',
      chunk: 1,
      worker: 'h:1',
      frames: 25,
      objects: { frames: 'j1/out-00001.jsonl' },
    };
    expect(parseChunkDone(encode(done))).toEqual(done);
  });

  it.each([
    ['not JSON', new TextEncoder().encode('{'), /not JSON/],
    ['an object name climbing out', bytes({ ...task, input: '../../etc/passwd' }), /malformed \(input/],
    ['a job id with a subject wildcard', bytes({ ...task, job: 'j.*' }), /malformed \(job/],
    ['an unknown key', bytes({ ...task, extra: 1 }), /malformed/],
    ['a batch of a million', bytes({ ...task, run: { batchSize: 1e6 } }), /malformed \(run\.batchSize/],
    [
      'CRF iterations as a string',
      bytes({ ...task, run: { batchSize: 1, crf: { params: { iterations: '10' } } } }),
      /malformed \(run\.crf\.params\.iterations/,
    ],
  ])('refuses a chunk task with %s', (_what, message, error) => {
    expect(() => parseChunkTask(message)).toThrow(error);
  });

  it('refuses results, live tasks and statuses out of shape', () => {
    expect(() =>
      parseChunkDone(bytes({ ok: false, job: 'j1', chunk: 0, worker: 'w', error: { kind: 'Nonsense', message: 'x' } })),
    ).toThrow(/malformed \(error\.kind/);
    expect(() =>
      parseLiveTask(
        bytes({
          stream: 'a b',
          input: 'testsrc',
          realtime: false,
          model: { object: 'm' },
          run: { batchSize: 1 },
          crfOn: false,
          server: 's',
        }),
      ),
    ).toThrow(/malformed \(stream/);
    expect(() =>
      parseStreamStatus(bytes({ stream: 's', worker: 'w', status: 'live', width: -1, height: 0, dropped: 0 })),
    ).toThrow(/malformed \(width/);
  });

  it('makes one subject token of any stream id, a different one for each', () => {
    expect(streamToken('cam.1:main')).toBe('cam_2e1_3amain');
    expect(streamToken('testsrc-2')).toBe('testsrc-2');
    expect(streamToken('cam_1')).toBe('cam_5f1');
    expect(streamToken('hall é')).toBe('hall_20_c3_a9');
    const ids = ['cam.1', 'cam_1', 'cam_2e1', 'cam-1', 'cam:1'];
    expect(new Set(ids.map(streamToken)).size).toBe(ids.length);
  });
});

describe('mask bundles', () => {
  it('round-trips files in order and refuses a cut bundle', () => {
    const { dir, cleanup } = tempDir();
    try {
      const files = ['a', 'bb', ''].map((text, i) => {
        const file = path.join(dir, `f${i}`);
        writeFileSync(file, text);
        return file;
      });
      const bundle = bundleFiles(files);
      expect(unbundle(bundle).map((b) => Buffer.from(b).toString())).toEqual(['a', 'bb', '']);
      expect(() => unbundle(bundle.subarray(0, 10))).toThrow(/ends inside a file/);
      expect(() => unbundle(bundle.subarray(0, 2))).toThrow(/ends inside a length/);
    } finally {
      cleanup();
    }
  });

  it('checks frame results and advisories before use', () => {
    const result = {
      stream: 's',
      index: 3,
      capturedAt: 1,
      inferredAt: 2,
      width: 4,
      height: 4,
      crf: false,
      pixels: { person: 16 },
      stageMs: { infer: 1.5 },
      worker: 'w',
    };
    expect(parseFrameResult(bytes(result))).toEqual(result);
    expect(() => parseFrameResult(bytes({ ...result, pixels: { person: -1 } }))).toThrow(/malformed \(pixels\.person/);
    expect(() => parseFrameResult(new Uint8Array(2 << 20))).toThrow(/too large/);
    expect(
      parseMaxDeliveriesAdvisory(
        bytes({ type: 'x', stream: 'DEEPLAB_CHUNKS', consumer: 'deeplab-workers', stream_seq: 7 }),
      ).stream_seq,
    ).toBe(7);
    expect(() => parseMaxDeliveriesAdvisory(new TextEncoder().encode('not json'))).toThrow(/not JSON/);
  });
});
