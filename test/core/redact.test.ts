/** The one redactor: what it takes out of a line, and what it leaves. */
import { describe, expect, it } from 'vitest';
import { redactSecrets } from '../../core/redact.js';

describe('redactSecrets', () => {
  it.each([
    ['rtsp://admin:hunter2@10.0.0.7:554/live', 'rtsp://***@10.0.0.7:554/live'],
    ['nats://worker:s3cret@broker:4222', 'nats://***@broker:4222'],
    ['nats://mytoken@broker:4222', 'nats://***@broker:4222'],
    [
      'opening http://u:p@cam/x.mjpeg failed: 401 (rtsp://a:b@c/d)',
      'opening http://***@cam/x.mjpeg failed: 401 (rtsp://***@c/d)',
    ],
    ['GET /stream?token=abc123&x=1', 'GET /stream?token=***&x=1'],
  ])('hides the credentials of %s', (line, shown) => {
    expect(redactSecrets(line)).toBe(shown);
  });

  it('leaves lines without credentials as they are', () => {
    for (const line of ['rtsp://10.0.0.7/live', 'user@example.com wrote', '/srv/videos/a.mp4', 'testsrc:640x360@30'])
      expect(redactSecrets(line)).toBe(line);
  });
});
