import { describe, expect, it } from 'vitest';
import { finishSinks, type SegmentationSink } from '../../core/sink.js';

function sink(name: string, log: string[], failFlush = false): SegmentationSink {
  return {
    name,
    async write() {},
    async flush() {
      log.push(`flush ${name}`);
      if (failFlush) throw new Error(`${name} failed`);
    },
    commit() {
      log.push(`commit ${name}`);
    },
    async abort() {
      log.push(`abort ${name}`);
    },
  };
}

describe('finishSinks', () => {
  it('commits only after every sink has flushed', async () => {
    const log: string[] = [];
    await finishSinks([sink('video', log), sink('masks', log)]);
    expect(log).toEqual(['flush video', 'flush masks', 'commit video', 'commit masks']);
  });

  it('commits nothing and aborts every sink when one flush fails', async () => {
    const log: string[] = [];
    await expect(finishSinks([sink('masks', log), sink('video', log, true), sink('json', log)])).rejects.toThrow(
      /video failed/,
    );
    expect(log.filter((l) => l.startsWith('commit'))).toEqual([]);
    expect(log.filter((l) => l.startsWith('abort')).sort()).toEqual(['abort json', 'abort masks', 'abort video']);
  });
});
