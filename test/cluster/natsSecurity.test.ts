/** How `--nats` and its flags become nats.js connection settings: credentials out of the URL, TLS never optional when asked for. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { natsConnectSettings, natsSecurityFrom } from '../../cluster/natsSecurity.js';
import { readSettings } from '../../core/settings.js';
import { tempDir } from '../helpers/fixtures.js';

describe('NATS connection settings', () => {
  const { dir, cleanup } = tempDir('dls-nats-security-');
  afterAll(cleanup);

  it('takes user and password (or a token) out of the URL, into the options', () => {
    const { options } = natsConnectSettings({ url: 'nats://worker:p%40ss@broker:4222' }, '_INBOX_worker');
    expect(options).toMatchObject({
      servers: 'nats://broker:4222',
      user: 'worker',
      pass: 'p@ss',
      inboxPrefix: '_INBOX_worker',
    });
    expect(options.tls).toBeUndefined();
    expect(natsConnectSettings({ url: 'nats://s3cr3t@broker' }, 'x').options).toMatchObject({
      servers: 'nats://broker',
      token: 's3cr3t',
    });
    expect(natsConnectSettings({ url: '127.0.0.1:4222' }, 'x').options.servers).toBe('nats://127.0.0.1:4222');
  });

  it('requires TLS for tls:// URLs, --nats-tls-required and a CA', () => {
    expect(natsConnectSettings({ url: 'tls://broker:4222' }, 'x').options.tls).toEqual({});
    expect(natsConnectSettings({ url: 'nats://broker', security: { tlsRequired: true } }, 'x').options.tls).toEqual({});
    const ca = path.join(dir, 'ca.pem');
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\n');
    expect(natsConnectSettings({ url: 'nats://broker', security: { caFile: ca } }, 'x').options.tls).toEqual({
      ca: '-----BEGIN CERTIFICATE-----\n',
    });
  });

  it('reads creds and nkey files, and says in one line what is wrong with them', () => {
    const creds = path.join(dir, 'user.creds');
    writeFileSync(creds, '-----BEGIN NATS USER JWT-----\n');
    expect(natsConnectSettings({ url: 'nats://b', security: { credsFile: creds } }, 'x').creds).toBeInstanceOf(
      Uint8Array,
    );
    expect(() =>
      natsConnectSettings({ url: 'nats://b', security: { credsFile: path.join(dir, 'none.creds') } }, 'x'),
    ).toThrow(/--nats-creds .*cannot read it \(ENOENT\)/);
    const seed = path.join(dir, 'user.nk');
    writeFileSync(seed, 'not a seed');
    expect(() => natsConnectSettings({ url: 'nats://b', security: { nkeyFile: seed } }, 'x')).toThrow(
      /holds no user nkey seed/,
    );
    expect(() => natsConnectSettings({ url: 'http://b' }, 'x')).toThrow(/scheme is nats:\/\/ or tls:\/\//);
    expect(() => natsConnectSettings({ url: 'nats://u:p@b', security: { token: 't' } }, 'x')).toThrow(/keep one/);
  });

  it('takes each setting from its flag, else its environment variable', () => {
    const env = {
      DEEPLAB_STREAM_NATS_TOKEN: 'from-env',
      DEEPLAB_STREAM_NATS_CA: '/etc/ca.pem',
      DEEPLAB_STREAM_NATS_TLS_REQUIRED: '1',
    };
    expect(natsSecurityFrom({}, readSettings(env).flags)).toEqual({
      token: 'from-env',
      caFile: '/etc/ca.pem',
      tlsRequired: true,
    });
    expect(natsSecurityFrom({ natsToken: 'flag' }, readSettings(env).flags).token).toBe('flag');
    expect(
      natsSecurityFrom({}, readSettings({ DEEPLAB_STREAM_NATS_TLS_REQUIRED: '0' }).flags).tlsRequired,
    ).toBeUndefined();
    expect(() => natsSecurityFrom({ natsToken: 't', natsCreds: 'c' }, readSettings({}).flags)).toThrow(/one way/);
    expect(() => natsSecurityFrom({ natsCert: 'c' }, readSettings({}).flags)).toThrow(/go together/);
  });
});
