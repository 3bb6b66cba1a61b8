/**
 * What a viewer may send, checked before anything reads it. Every client message is untrusted: it is
 * parsed as JSON text and matched against the schema of its `type` (zod, strict: unknown keys,
 * wrong types and out-of-range values are all refused). A refused message yields the reason, which
 * the hub counts and tells the viewer; it never reaches the server's state.
 *
 *   '{"type":"pause","paused":true}'   → { ok: true, message: { type: 'pause', paused: true } }
 *   'null', '{"type":"crf","on":"false"}', binary data → { ok: false, reason: '…' }
 */
import { z } from 'zod';
import type { ClientMessage } from './wireFormat.js';

/** Longest control message accepted (bytes); longer ones close the socket (1009, ws' maxPayload). */
export const MAX_CONTROL_MESSAGE_BYTES = 16 * 1024;
const MAX_STREAM_ID_LENGTH = 128;
const MAX_SUBSCRIBED_STREAMS = 64;

const streamId = z.string().min(1).max(MAX_STREAM_ID_LENGTH);

const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('subscribe'),
    streams: z.union([z.literal('*'), z.array(streamId).max(MAX_SUBSCRIBED_STREAMS)]),
  }),
  z.strictObject({ type: z.literal('crf'), streamId, on: z.boolean() }),
  z.strictObject({ type: z.literal('pause'), paused: z.boolean() }),
  z.strictObject({ type: z.literal('ping'), t0: z.number().finite() }),
]);

export type ParsedClientMessage =
  { readonly ok: true; readonly message: ClientMessage } | { readonly ok: false; readonly reason: string };

export function parseClientMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): ParsedClientMessage {
  if (isBinary) return { ok: false, reason: 'binary messages are not accepted: control messages are JSON text' };
  const text = Buffer.isBuffer(data)
    ? data.toString('utf8')
    : Array.isArray(data)
      ? Buffer.concat(data).toString('utf8')
      : Buffer.from(data).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON: control messages are JSON text, e.g. {"type":"pause","paused":true}' };
  }
  const result = clientMessageSchema.safeParse(json);
  if (result.success) return { ok: true, message: result.data };
  const issue = result.error.issues[0];
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  return {
    ok: false,
    reason: `malformed control message (${where}${issue?.message ?? 'invalid'}); see docs/live.md "Wire format"`,
  };
}
