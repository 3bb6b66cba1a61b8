/** The library's live server over the local back end, in this process: what `serve` runs, without the CLI. */
import { afterAll, describe, expect, it } from 'vitest';
import { localLiveBackend } from '../../pipeline/localLiveBackend.js';
import { startLiveServer } from '../../server/liveServer.js';
import { tempDir, writeModel } from '../helpers/fixtures.js';
import { TestViewer } from '../helpers/liveServer.js';

const tmp = tempDir('dls-liveserver-');
afterAll(() => tmp.cleanup());

describe('startLiveServer over localLiveBackend', () => {
  it('serves the streams the back end runs: /healthz lists them, a viewer gets frames, close ends it all', async () => {
    const lines: string[] = [];
    const server = await startLiveServer({
      host: '127.0.0.1',
      port: 0,
      log: (line) => lines.push(line),
      backend: localLiveBackend({
        inputs: ['testsrc:96x64@10'],
        modelPath: writeModel(tmp.dir, { classes: 3 }),
        device: { kind: 'cpu' },
        inputSize: [49, 33],
        workers: 1,
        threadsPerWorker: 1,
        batchSize: 1,
        crf: { on: false, params: {} },
      }),
    });
    try {
      expect(server.streamIds).toEqual(['testsrc']);
      expect(server.provider).toBe('cpu');
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { streams: { id: string }[] };
      expect(health.streams.map((s) => s.id)).toEqual(['testsrc']);
      const viewer = await TestViewer.connect(`${server.url}/ws`, { headers: { origin: server.url } });
      await viewer.until((v) => v.frames.length >= 2, 30_000, 'two frames');
      const hello = viewer.messages.find((m) => m.type === 'hello') as { classes: unknown[] } | undefined;
      expect(hello?.classes).toHaveLength(3);
      expect(viewer.frames[0]!.labels).toHaveLength(96 * 64);
      viewer.close();
    } finally {
      await server.close();
    }
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });
});
