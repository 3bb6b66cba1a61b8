/**
 * The one redactor: every line a user or another machine may see (logs, statuses, errors,
 * /healthz, the viewer) passes through it. It removes what a URL carries before `@` — the
 * `user:password` of a camera and the user or token of a NATS server — and NATS credentials
 * written as `token=…`/`password=…` pairs.
 *
 *   redactSecrets('rtsp://admin:hunter2@cam/live') === 'rtsp://***@cam/live'
 */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1***@')
    .replace(/\b(token|password|pass|secret|auth_token)=([^\s&]+)/gi, '$1=***');
}
