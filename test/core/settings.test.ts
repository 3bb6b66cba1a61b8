import { afterEach, describe, expect, it } from 'vitest';
import { ENVIRONMENT, readSettings, settings } from '../../core/settings.js';

describe('settings', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('takes defaults from an empty environment', () => {
    const read = readSettings({});
    expect(read.cacheDir).toMatch(/\/\.cache\/deeplab-stream$/);
    expect(read.cluster).toEqual({
      jobTtlMs: 6 * 3600_000,
      ackWaitMs: 30_000,
      leaseTtlMs: 3000,
      storeBytes: 10 * 1024 * 1024 * 1024,
    });
    expect(read.crf).toEqual({ native: true, nativeImage: true, wasm: true, hugePages: true, spinMicros: 200 });
    expect(readSettings({ XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/x/deeplab-stream');
    expect(readSettings({ DEEPLAB_STREAM_CACHE: '/c', XDG_CACHE_HOME: '/x' }).cacheDir).toBe('/c');
  });

  it('clamps numbers to their ranges and refuses unknown switch values, one line each', () => {
    const notes: string[] = [];
    const read = readSettings(
      {
        DEEPLAB_STREAM_LEASE_TTL: '1e10',
        DEEPLAB_STREAM_ACK_WAIT: 'soon',
        DEEPLAB_STREAM_JOB_TTL: '0.001',
        DEEPLAB_STREAM_CRF_NATIVE: 'maybe',
        DEEPLAB_STREAM_GSTREAMER: 'off',
      },
      (line) => notes.push(line),
    );
    expect(read.cluster.leaseTtlMs).toBe(300_000);
    expect(read.cluster.ackWaitMs).toBe(30_000);
    expect(read.cluster.jobTtlMs).toBe(1000);
    expect(read.crf.native).toBe(true);
    expect(read.gstreamer).toBe(false);
    expect(notes.sort()).toEqual([
      'note: DEEPLAB_STREAM_ACK_WAIT=soon is not a number of seconds; using 30 s',
      'note: DEEPLAB_STREAM_CRF_NATIVE=maybe is not 0 or 1; using 1',
      'note: DEEPLAB_STREAM_JOB_TTL=0.001 is outside 1–2592000 s; using 1 s',
      'note: DEEPLAB_STREAM_LEASE_TTL=1e10 is outside 0.5–300 s; using 300 s',
    ]);
  });

  it("follows this process's environment, and says each note once", () => {
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (text: string) => (written.push(String(text)), true);
    try {
      process.env['DEEPLAB_STREAM_LEASE_TTL'] = '7';
      expect(settings().cluster.leaseTtlMs).toBe(7000);
      process.env['DEEPLAB_STREAM_LEASE_TTL'] = 'x';
      expect(settings().cluster.leaseTtlMs).toBe(3000);
      process.env['DEEPLAB_STREAM_LEASE_TTL'] = '7';
      settings();
      process.env['DEEPLAB_STREAM_LEASE_TTL'] = 'x';
      settings();
    } finally {
      process.stderr.write = write;
    }
    expect(written).toEqual(['note: DEEPLAB_STREAM_LEASE_TTL=x is not a number of seconds; using 3 s\n']);
  });

  it('is where every variable the product reads is named', async () => {
    const { spawnSync } = await import('node:child_process');
    const found = spawnSync(
      'grep',
      [
        '-rhoE',
        'process\\.env(\\[[\'"][A-Z_]+|\\.[A-Z_]+)',
        'index.ts',
        'core',
        'io',
        'crf',
        'model',
        'operators',
        'sources',
        'sinks',
        'zones',
        'server',
        'pipeline',
        'cluster',
        'cli',
      ],
      { encoding: 'utf8' },
    ).stdout;
    // Only this module reads the environment (process.env itself may be passed on to child processes).
    expect(found.trim()).toBe('');
    expect(Object.keys(ENVIRONMENT).length).toBeGreaterThan(20);
  });
});

describe('docs/configuration.md', () => {
  it('names every variable the settings read', async () => {
    const { readFileSync } = await import('node:fs');
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    for (const name of Object.keys(ENVIRONMENT)) expect(doc).toContain(`\`${name}\``);
  });
});
