/**
 * How a process proves who it is to the cluster's NATS server, and how it keeps the wire private —
 * the settings NATS users know from the `nats` CLI, taken by every command that takes `--nats`:
 *
 *   nats://user:password@host:4222   user and password from the URL (never printed: see redactSecrets)
 *   nats://token@host:4222           a token from the URL
 *   --nats-creds FILE                a JWT + nkey credentials file (operator/account mode)
 *   --nats-nkey FILE                 a file holding a user nkey seed (SU…)
 *   --nats-token TOKEN               a token (prefer DEEPLAB_STREAM_NATS_TOKEN: flags show in `ps`)
 *   --nats-ca FILE                   the CA that signed the server's certificate
 *   --nats-cert FILE --nats-key FILE a client certificate, for servers that verify clients
 *   --nats-tls-required, tls://…     TLS or no connection (never a fall-back to plain text)
 *
 * Each has an environment variable for services (DEEPLAB_STREAM_NATS_CREDS, …_NKEY, …_TOKEN, …_CA,
 * …_CERT, …_KEY, …_TLS_REQUIRED=1); a flag wins over its variable.
 */
import { readFileSync } from 'node:fs';
// Types only: the CLI reads these settings without loading the NATS client (natsCluster.ts does).
import type { ConnectionOptions, TlsOptions } from '@nats-io/transport-node';
import { UsageError } from '../core/errors.js';
import { redactSecrets } from '../core/redact.js';
import { type Settings, settings } from '../core/settings.js';

export interface NatsSecurity {
  readonly credsFile?: string;
  readonly nkeyFile?: string;
  readonly token?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly tlsRequired?: boolean;
}

/** Where the cluster is and how to enter it. */
export interface NatsTarget {
  readonly url: string;
  readonly security?: NatsSecurity;
}

/** The flags, as commander hands them over (absent ones undefined). */
export interface NatsSecurityFlags {
  natsCreds?: string;
  natsNkey?: string;
  natsToken?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
  natsTlsRequired?: boolean;
}

/** The flags over the environment: what this process presents to the server. */
export function natsSecurityFrom(flags: NatsSecurityFlags, env: Settings['flags'] = settings().flags): NatsSecurity {
  const security: Record<string, string | boolean | undefined> = {
    credsFile: flags.natsCreds ?? env.natsCreds,
    nkeyFile: flags.natsNkey ?? env.natsNkey,
    token: flags.natsToken ?? env.natsToken,
    caFile: flags.natsCa ?? env.natsCa,
    certFile: flags.natsCert ?? env.natsCert,
    keyFile: flags.natsKey ?? env.natsKey,
    tlsRequired: flags.natsTlsRequired || env.natsTlsRequired || undefined,
  };
  const given = Object.entries(security).filter(([, v]) => v !== undefined);
  const result = Object.fromEntries(given) as NatsSecurity;
  const ways = [
    result.credsFile && '--nats-creds',
    result.nkeyFile && '--nats-nkey',
    result.token && '--nats-token',
  ].filter(Boolean);
  if (ways.length > 1)
    throw new UsageError(`${ways.join(' and ')} were both given: a NATS user proves who it is one way; keep one`);
  if (Boolean(result.certFile) !== Boolean(result.keyFile))
    throw new UsageError('--nats-cert and --nats-key go together (a client certificate and its private key)');
  return result;
}

function readSecretFile(file: string, flag: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new UsageError(
      `${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    );
  }
}

/** What nats.js needs: options without credentials in the server list, and the key material its authenticators take. */
export interface NatsConnectSettings {
  readonly options: ConnectionOptions;
  /** A credentials file's bytes (JWT + nkey seed), for credsAuthenticator. */
  readonly creds?: Uint8Array;
  /** A user nkey seed, for nkeyAuthenticator. */
  readonly nkeySeed?: Uint8Array;
}

/**
 * The connection settings: the server list without credentials in it (nats.js takes them only
 * from the options), user/password or token, key material, and TLS settings.
 */
export function natsConnectSettings(target: NatsTarget, inboxPrefix: string): NatsConnectSettings {
  const security = target.security ?? {};
  let url: URL;
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(target.url) ? target.url : `nats://${target.url}`;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--nats ${redactSecrets(target.url)} is not a NATS URL (nats://host:4222, tls://host:4222)`);
  }
  const scheme = url.protocol.slice(0, -1).toLowerCase();
  if (!['nats', 'tls'].includes(scheme))
    throw new UsageError(
      `--nats ${redactSecrets(target.url)}: the scheme is nats:// or tls:// (TLS required), not ${scheme}://`,
    );
  const options: ConnectionOptions = { servers: `nats://${url.host}`, inboxPrefix };
  const user = decodeURIComponent(url.username);
  const pass = decodeURIComponent(url.password);
  let creds: Uint8Array | undefined;
  let nkeySeed: Uint8Array | undefined;
  if (user && url.password !== '') Object.assign(options, { user, pass });
  else if (user) Object.assign(options, { token: user });
  if (security.token) {
    if (user) throw new UsageError('--nats-token was given and the --nats URL holds a user or token too: keep one');
    options.token = security.token;
  }
  if (security.credsFile) creds = readSecretFile(security.credsFile, '--nats-creds');
  if (security.nkeyFile) {
    const seed = new TextDecoder().decode(readSecretFile(security.nkeyFile, '--nats-nkey')).trim();
    if (!/^SU[A-Z2-7]{50,}$/.test(seed))
      throw new UsageError(
        `--nats-nkey ${security.nkeyFile}: holds no user nkey seed (a line starting SU…; make one with \`nsc generate nkey --user\`)`,
      );
    nkeySeed = new TextEncoder().encode(seed);
  }
  const tls: TlsOptions = {};
  if (security.caFile) tls.ca = new TextDecoder().decode(readSecretFile(security.caFile, '--nats-ca'));
  if (security.certFile && security.keyFile) {
    tls.cert = new TextDecoder().decode(readSecretFile(security.certFile, '--nats-cert'));
    tls.key = new TextDecoder().decode(readSecretFile(security.keyFile, '--nats-key'));
  }
  // An object (even empty) makes nats.js refuse a server without TLS; left out, it uses TLS only where offered.
  if (scheme === 'tls' || security.tlsRequired || Object.keys(tls).length > 0) options.tls = tls;
  return { options, ...(creds ? { creds } : {}), ...(nkeySeed ? { nkeySeed } : {}) };
}

/** A connection failure as one line saying what to do. */
export function describeNatsFailure(target: NatsTarget, error: unknown): string {
  const shown = redactSecrets(target.url);
  const e = error as { code?: string; message?: string };
  const reason = redactSecrets(e.message || e.code || String(error));
  if (/authoriz|authenticat|permissions? violation|user authentication/i.test(reason)) {
    return `the NATS server at ${shown} refused this user (${reason}): check the URL's user and password, --nats-creds, --nats-nkey or --nats-token`;
  }
  if (/does not support 'tls'|tls.*not available/i.test(reason)) {
    return `the NATS server at ${shown} offers no TLS, and TLS is required here (tls://, --nats-tls-required, --nats-ca): configure TLS on the server, or connect without requiring it`;
  }
  if (/certificate|self.signed|unable to verify|altnames/i.test(reason)) {
    return `the NATS server at ${shown} showed a certificate this process does not trust (${reason}): pass the CA that signed it with --nats-ca`;
  }
  return `cannot reach the NATS server at ${shown} (${reason}): start one with JetStream (nats-server -js) or correct --nats`;
}
