/** Input credentials travel sealed: only a holder of the key reads them, and a tampered task is refused. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LiveTask } from '../../cluster/protocol.js';
import { hasCredentials, openSealed, openSealedInput, readInputKey, sealInput } from '../../cluster/sealedInput.js';
import { tempDir } from '../helpers/fixtures.js';

describe('sealed inputs', () => {
  const { dir, cleanup } = tempDir('dls-sealed-');
  afterAll(cleanup);
  const keyFile = (name: string, text: string) => {
    const file = path.join(dir, name);
    writeFileSync(file, text);
    return file;
  };
  const key = readInputKey(keyFile('a.key', 'f'.repeat(64)));
  const other = readInputKey(keyFile('b.key', 'e'.repeat(64)));
  const spec = 'rtsp://admin:hunter2@10.0.0.7/live';
  const task = (input: string, sealedInput?: string): LiveTask => ({
    stream: 's',
    input,
    ...(sealedInput ? { sealedInput } : {}),
    realtime: true,
    model: { object: 'models/x.onnx' },
    run: { batchSize: 1 },
    crfOn: false,
    watched: false,
    server: 'h:1',
  });

  it('seals and opens an address; the sealed text holds no part of the password', () => {
    const sealed = sealInput(spec, key);
    expect(sealed).not.toContain('hunter2');
    expect(sealed).not.toBe(sealInput(spec, key)); // a fresh IV each time
    expect(openSealed(sealed, key)).toBe(spec);
    expect(openSealedInput(task('rtsp://***@10.0.0.7/live', sealed), key)).toBe(spec);
    expect(hasCredentials(spec)).toBe(true);
    expect(hasCredentials('rtsp://10.0.0.7/live')).toBe(false);
  });

  it('refuses without the key, with another key, or when shown and sealed addresses differ', () => {
    const sealed = sealInput(spec, key);
    expect(() => openSealedInput(task('rtsp://***@10.0.0.7/live', sealed), undefined)).toThrow(
      /^refused: .*was not given \(--input-key\)$/,
    );
    expect(() => openSealedInput(task('rtsp://***@10.0.0.7/live', sealed), other)).toThrow(/another key/);
    expect(() => openSealedInput(task('rtsp://***@10.9.9.9/live', sealed), key)).toThrow(/does not match/);
    // One bit of the ciphertext changed (on the bytes: a base64url character's last bits may be padding).
    const [version, body] = sealed.split('.') as [string, string];
    const bytes = Buffer.from(body, 'base64url');
    bytes[bytes.length - 1]! ^= 1;
    const flipped = `${version}.${bytes.toString('base64url')}`;
    expect(() => openSealedInput(task('rtsp://***@10.0.0.7/live', flipped), key)).toThrow(/another key/);
  });

  it('wants a key file of some length', () => {
    expect(() => readInputKey(keyFile('short.key', 'abc'))).toThrow(/at least 16/);
    expect(() => readInputKey(path.join(dir, 'missing.key'))).toThrow(/cannot read it \(ENOENT\)/);
  });
});
