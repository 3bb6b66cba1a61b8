import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { registerServe } from '../../cli/commands/serve.js';
import { registerWorker } from '../../cli/commands/worker.js';
import { withConfigFile } from '../../cli/configFile.js';
import { runCli, tempDir } from '../helpers/fixtures.js';
import { startServe } from '../helpers/liveServer.js';

const tmp = tempDir('dls-config-');
afterAll(() => tmp.cleanup());
const write = (name: string, text: string) => {
  const file = path.join(tmp.dir, name);
  writeFileSync(file, text);
  return file;
};
const program = () => {
  const p = new Command().exitOverride();
  registerServe(p, () => {});
  registerWorker(p, () => {});
  return p;
};

describe('--config FILE', () => {
  it('stands for the flags it names, before the command line (whose flags win), with its inputs where the line names none', () => {
    const yaml = write(
      'serve.yaml',
      'inputs: [rtsp://10.0.0.7/live, "camera:0"]\nport: 8080\nmodel: deeplab-cityscapes\ncrf: true\nrealtime: true\n',
    );
    expect(withConfigFile(program(), ['serve', '--config', yaml, '--port', '9000'])).toEqual([
      'serve',
      '--port',
      '8080',
      '--model',
      'deeplab-cityscapes',
      '--crf',
      'on',
      '--realtime',
      '--port',
      '9000',
      'rtsp://10.0.0.7/live',
      'camera:0',
    ]);
    // Inputs on the command line replace the file's; an option's value is not taken for an input.
    expect(withConfigFile(program(), ['serve', `--config=${yaml}`, '--host', '0.0.0.0', 'testsrc'])).toEqual([
      'serve',
      '--port',
      '8080',
      '--model',
      'deeplab-cityscapes',
      '--crf',
      'on',
      '--realtime',
      '--host',
      '0.0.0.0',
      'testsrc',
    ]);
    const json = write(
      'worker.json',
      JSON.stringify({ nats: 'tls://broker:4222', allowInputs: 'rtsp,file:/srv', maxBatch: 4 }),
    );
    expect(withConfigFile(program(), ['worker', '--config', json])).toEqual([
      'worker',
      '--nats',
      'tls://broker:4222',
      '--allow-inputs',
      'rtsp,file:/srv',
      '--max-batch',
      '4',
    ]);
    // Commands without --config, and lines without it, are left as they are.
    expect(withConfigFile(program(), ['serve', 'testsrc'])).toEqual(['serve', 'testsrc']);
  });

  it('refuses what is not a setting, not a file or not readable, in one line', () => {
    expect(() => withConfigFile(program(), ['serve', '--config', write('a.yaml', 'maxviewers: 3\n')])).toThrow(
      /^--config .*a\.yaml: maxviewers: not a setting of serve \(keys are its flags in camelCase: /,
    );
    expect(() => withConfigFile(program(), ['worker', '--config', write('b.yaml', 'inputs: [testsrc]\n')])).toThrow(
      /inputs: not a setting of worker/,
    );
    expect(() => withConfigFile(program(), ['serve', '--config', write('c.json', '{"port": ')])).toThrow(
      /c\.json: not JSON/,
    );
    expect(() => withConfigFile(program(), ['serve', '--config', write('d.yaml', '- a\n- b\n')])).toThrow(
      /expected an object of settings/,
    );
    expect(() => withConfigFile(program(), ['serve', '--config', write('e.yaml', 'realtime: "yes"\n')])).toThrow(
      /realtime: expected true or false/,
    );
    expect(() => withConfigFile(program(), ['serve', '--config', path.join(tmp.dir, 'missing.yaml')])).toThrow(
      /cannot read it \(ENOENT\)/,
    );
  });

  it("checks each value with the flag's own check: a bad one is the flag's one-line error, exit 64", async () => {
    const bad = write('bad.yaml', 'inputs: [testsrc]\nmaxViewers: 0\n');
    const run = await runCli(['serve', '--config', bad]);
    expect(run.code).toBe(64);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/^error: .*--max-viewers.*0/);
    const unknown = await runCli(['serve', '--config', write('unknown.yaml', 'colour: red\n')]);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toMatch(/^error: --config .*unknown\.yaml: colour: not a setting of serve/);
  });

  it('runs a deployment from one file, zones included', async () => {
    const file = write(
      'deploy.yaml',
      [
        'inputs: ["testsrc:96x64@5"]',
        'host: 127.0.0.1',
        'maxViewers: 2',
        'zones:',
        '  testsrc:',
        '    - name: door',
        '      polygon: [[0, 0], [0.5, 0], [0.5, 0.5]]',
        '      classes: [person]',
        '',
      ].join('\n'),
    );
    const server = await startServe(['--config', file]);
    try {
      await server.waitForLog(/^serving testsrc on http:\/\/127\.0\.0\.1:\d+\//);
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { streams: { id: string }[] };
      expect(health.streams.map((s) => s.id)).toEqual(['testsrc']);
      const zones = (await (await fetch(`${server.url}/api/streams/testsrc/zones`)).json()) as {
        zones: { name: string }[];
      };
      expect(zones.zones.map((z) => z.name)).toEqual(['door']);
    } finally {
      await server.stop();
    }
  });
});
