/**
 * The broker as docs/cluster.md "Securing the broker" sets it up: deploy/nats-server.conf (one account,
 * a user per role, each allowed only its subjects) run by a real nats-server, and TLS with a CA
 * and certificate made here with openssl. Every role does its work with its own user; a client
 * user cannot put a live task or read one; wrong credentials, an untrusted certificate and a
 * server without TLS each end in one line.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Kvm } from '@nats-io/kv';
import { jetstream } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { encode, LIVE_BUCKET } from '../../cluster/protocol.js';
import { repoRoot, runCli, tempDir, writeClip, writeModel } from '../helpers/fixtures.js';
import { type ServeProcess, startServe, TestViewer } from '../helpers/liveServer.js';
import {
  makeCertificates,
  NATS_SERVER,
  type NatsServer,
  startNatsServer,
  killWorkers,
  startWorker,
  type WorkerProcess,
} from '../helpers/natsServer.js';

if (!NATS_SERVER)
  console.warn(
    'skipping the secured-broker tests: nats-server is not installed (bash .ci/install installs it from Debian)',
  );

const passwords = {
  DEEPLAB_CLIENT_PASSWORD: 'client-pw-1',
  DEEPLAB_WORKER_PASSWORD: 'worker-pw-2',
  DEEPLAB_SERVER_PASSWORD: 'server-pw-3',
};
const withUser = (url: string, user: string, password: string) => url.replace('nats://', `nats://${user}:${password}@`);

describe.skipIf(!NATS_SERVER)('a secured broker', () => {
  const { dir, cleanup } = tempDir('dls-secured-');
  let model: string;
  let clip: string;
  let server: NatsServer | null = null;
  let serve: ServeProcess | null = null;
  let viewer: TestViewer | null = null;
  let client: NatsConnection | null = null;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    model = writeModel(dir, { classes: 3, seed: 6 });
    clip = await writeClip(dir, 'clip.mp4', {
      frames: 50,
      codecArgs: ['-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p'],
    });
  }, 60_000);

  afterEach(async () => {
    viewer?.close();
    await client?.close();
    await serve?.stop();
    await killWorkers(workers);
    await server?.stop();
    [server, serve, viewer, client] = [null, null, null, null];
  });
  afterAll(cleanup);

  it('runs a job and a live stream with one user per role (deploy/nats-server.conf); a client user cannot put or read live tasks', async () => {
    server = await startNatsServer({ config: path.join(repoRoot, 'deploy', 'nats-server.conf'), env: passwords });
    const env = { DEEPLAB_STREAM_LEASE_TTL: '1.5' };
    workers.push(startWorker(withUser(server.url, 'worker', passwords.DEEPLAB_WORKER_PASSWORD), env));
    const job = await runCli(
      [
        'segment',
        clip,
        '--model',
        model,
        '--nats',
        withUser(server.url, 'client', passwords.DEEPLAB_CLIENT_PASSWORD),
        '--chunk-seconds',
        '1',
        '--frames-json',
        path.join(dir, 'job.jsonl'),
        '--json',
      ],
      { env },
    );
    expect(job.code, job.stderr).toBe(0);
    expect((JSON.parse(job.stdout) as { framesOut: number }).framesOut).toBe(50);

    serve = await startServe(
      [
        'testsrc:160x96@10',
        '--model',
        model,
        '--nats',
        withUser(server.url, 'server', passwords.DEEPLAB_SERVER_PASSWORD),
      ],
      env,
    );
    viewer = await TestViewer.connect(`${serve.url}/ws`);
    await viewer.until((v) => v.frames.length >= 3, 30_000, 'frames through the secured broker');
    for (const text of [serve.stderr(), workers[0]!.log(), job.stderr]) expect(text).not.toMatch(/pw-\d/);

    client = await connect({
      servers: server.url,
      user: 'client',
      pass: passwords.DEEPLAB_CLIENT_PASSWORD,
      inboxPrefix: '_INBOX_client',
    });
    const js = jetstream(client, { timeout: 2000 });
    const task = encode({
      stream: 'evil',
      input: 'file:///etc/passwd',
      realtime: true,
      model: { object: 'models/x.onnx' },
      run: { batchSize: 1 },
      crfOn: false,
      watched: true,
      server: 'x:1',
    });
    await expect(new Kvm(js).open(LIVE_BUCKET).then((kv) => kv.put('evil', task))).rejects.toThrow();
    await expect(js.publish('$KV.deeplab-live.evil', task)).rejects.toThrow();
    await expect(new Kvm(js).open(LIVE_BUCKET).then((kv) => kv.get('testsrc'))).rejects.toThrow();
    await expect(
      client.request('$JS.API.DIRECT.GET.KV_deeplab-live.$KV.deeplab-live.testsrc', '', { timeout: 2000 }),
    ).rejects.toThrow();
    // The same calls as the server user (the control): its task is there to read.
    const asServer = await connect({
      servers: server.url,
      user: 'server',
      pass: passwords.DEEPLAB_SERVER_PASSWORD,
      inboxPrefix: '_INBOX_server',
    });
    try {
      const entry = await (await new Kvm(jetstream(asServer, { timeout: 2000 })).open(LIVE_BUCKET)).get('testsrc');
      expect(new TextDecoder().decode(entry!.value)).toContain('"stream":"testsrc"');
    } finally {
      await asServer.close();
    }
  }, 120_000);

  it('says in one line that the broker refused the user, without printing the password', async () => {
    server = await startNatsServer({ config: path.join(repoRoot, 'deploy', 'nats-server.conf'), env: passwords });
    const worker = startWorker(withUser(server.url, 'worker', 'wrong-password'));
    workers.push(worker);
    expect(await worker.exited).not.toBe(0);
    expect(worker.log().trim()).toMatch(
      /^error: the NATS server at nats:\/\/\*\*\*@127\.0\.0\.1:\d+ refused this user \(.*\): check the URL's user and password, --nats-creds, --nats-nkey or --nats-token$/,
    );
    expect(worker.log()).not.toContain('wrong-password');
  }, 30_000);

  it('connects over TLS with --nats-ca; refuses an untrusted certificate and a server without TLS, in one line each', async () => {
    const certs = makeCertificates(dir);
    const config = path.join(dir, 'tls.conf');
    writeFileSync(config, `tls {\n  cert_file: "${certs.cert}"\n  key_file: "${certs.key}"\n}\n`);
    server = await startNatsServer({ config });
    const tlsUrl = server.url.replace('nats://', 'tls://');
    const trusted = startWorker(tlsUrl, {}, ['--nats-ca', certs.ca]);
    workers.push(trusted);
    await trusted.waitFor(/waiting for chunks on tls:\/\/127\.0\.0\.1/);

    const untrusted = await runCli(['worker', '--nats', tlsUrl, '--threads', '1']);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr.trim()).toMatch(
      /^error: the NATS server at tls:\/\/127\.0\.0\.1:\d+ showed a certificate this process does not trust \(.*\): pass the CA that signed it with --nats-ca$/,
    );
    await server.stop();

    server = await startNatsServer();
    const plain = await runCli(['worker', '--nats', server.url, '--threads', '1', '--nats-tls-required']);
    expect(plain.code).not.toBe(0);
    expect(plain.stderr.trim()).toMatch(
      /^error: the NATS server at nats:\/\/127\.0\.0\.1:\d+ offers no TLS, and TLS is required here/,
    );
  }, 60_000);
});
