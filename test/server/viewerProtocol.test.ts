import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_CONTROL_MESSAGE_BYTES, parseClientMessage } from '../../server/viewerProtocol.js';

const text = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Valid messages of every type, as a viewer sends them. */
const validMessage = fc.oneof(
  fc.record({
    type: fc.constant('subscribe'),
    streams: fc.oneof(
      fc.constant('*' as const),
      fc.array(fc.string({ minLength: 1, maxLength: 20 }), { maxLength: 8 }),
    ),
  }),
  fc.record({ type: fc.constant('crf'), streamId: fc.string({ minLength: 1, maxLength: 20 }), on: fc.boolean() }),
  fc.record({ type: fc.constant('pause'), paused: fc.boolean() }),
  fc.record({ type: fc.constant('ping'), t0: fc.double({ noNaN: true, noDefaultInfinity: true }).map((t) => t + 0) }), // JSON has no -0
);

describe('parseClientMessage', () => {
  it('accepts every well-formed message exactly as sent', () => {
    fc.assert(
      fc.property(validMessage, (message) => {
        const parsed = parseClientMessage(text(message), false);
        expect(parsed).toEqual({ ok: true, message });
      }),
    );
  });

  it('never throws, and accepts nothing that is not one of the declared shapes (generated JSON of every shape)', () => {
    const declared = (value: unknown): boolean => {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
      const v = value as Record<string, unknown>;
      const keys = Object.keys(v).sort().join(',');
      const id = (s: unknown) => typeof s === 'string' && s.length >= 1 && s.length <= 128;
      switch (v['type']) {
        case 'subscribe':
          return (
            keys === 'streams,type' &&
            (v['streams'] === '*' ||
              (Array.isArray(v['streams']) && v['streams'].length <= 64 && v['streams'].every(id)))
          );
        case 'crf':
          return keys === 'on,streamId,type' && id(v['streamId']) && typeof v['on'] === 'boolean';
        case 'pause':
          return keys === 'paused,type' && typeof v['paused'] === 'boolean';
        case 'ping':
          return keys === 't0,type' && typeof v['t0'] === 'number' && Number.isFinite(v['t0']);
        default:
          return false;
      }
    };
    // Objects that look like control messages (a known type with generated fields), and any JSON at all.
    const nearMessage = fc.record(
      {
        type: fc.constantFrom('subscribe', 'crf', 'pause', 'ping', 'hello', ''),
        streams: fc.jsonValue(),
        streamId: fc.jsonValue(),
        on: fc.jsonValue(),
        paused: fc.jsonValue(),
        t0: fc.jsonValue(),
      },
      { requiredKeys: ['type'] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), nearMessage), (value) => {
        const parsed = parseClientMessage(text(value), false);
        expect(parsed.ok).toBe(declared(value));
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), fc.boolean(), (bytes, isBinary) => {
        expect(() => parseClientMessage(Buffer.from(bytes), isBinary)).not.toThrow();
      }),
    );
  });

  it('refuses what took the server down or read loosely, with a reason', () => {
    for (const raw of [
      'null',
      'true',
      '5',
      '"ping"',
      '[]',
      '{}',
      '{"type":"subscribe","streams":5}',
      '{"type":"subscribe","streams":{}}',
      '{"type":"subscribe","streams":true}',
      '{"type":"crf","streamId":"a","on":"false"}',
      '{"type":"pause","paused":"no"}',
      '{"type":"ping","t0":"x"}',
      '{"type":"ping","t0":1,"pad":"x"}',
      '{"type":"__proto__"}',
    ]) {
      const parsed = parseClientMessage(Buffer.from(raw), false);
      expect({ raw, ok: parsed.ok }).toEqual({ raw, ok: false });
      if (!parsed.ok) expect(parsed.reason).toMatch(/malformed|not JSON/);
    }
    expect(parseClientMessage(text({ type: 'pause', paused: true }), true)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/binary/),
    });
    expect(
      parseClientMessage(text({ type: 'subscribe', streams: Array.from({ length: 65 }, (_, i) => `s${i}`) }), false).ok,
    ).toBe(false);
    expect(
      JSON.stringify({ type: 'subscribe', streams: Array.from({ length: 64 }, () => 'x'.repeat(128)) }).length,
    ).toBeLessThan(MAX_CONTROL_MESSAGE_BYTES);
  });
});
