/**
 * @sessiond/client — a typed client of the sessiond REST API.
 *
 * It calls sessiond over a keep-alive pool of its own (undici's Pool,
 * transport.ts). Types are generated from
 * api/openapi.yaml (src/openapi.ts) and every operation it calls is checked
 * against that document by the test suite.
 */
import { SessiondError, type ProblemCode } from './errors.js';
import { operations, type Operation } from './operations.js';
import { Transport, type RawResponse } from './transport.js';
import { SessionCache, type CacheOptions, type CacheStats } from './cache.js';
import { Coalescer, type BatchResult } from './batch.js';
import type {
  APIKeyCreate,
  APIKeyCreated,
  APIKeyList,
  DeviceIn,
  EventList,
  EventType,
  Key,
  KeyList,
  KeyRotate,
  Policy,
  Problem,
  Session,
  SessionCreate,
  SessionIssued,
  SessionPage,
  SessionRegenerate,
  SessionRevoke,
  SessionVerified,
  SessionVerify,
  SessionVerifyResults,
  SessionCreateResults,
  RevokedSessions,
  TenantCreate,
  TenantCreated,
} from './openapi.js';

export type * from './openapi.js';
export { SessiondError, SESSION_ENDED_CODES, isSessionEnded, isStepUpRequired, isUnavailable, type ProblemCode } from './errors.js';
export { operations, type Operation, type OperationName } from './operations.js';
export type { CacheOptions, CacheStats } from './cache.js';

/** Options of a SessiondClient. */
export interface SessiondClientOptions {
  /** sessiond's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A tenant API key (`sk_...`), or the operator token for `createTenant`. */
  apiKey: string;
  /**
   * Timeout in milliseconds (default 5000): a call whose connection stays
   * silent that long fails with an `unavailable` error.
   */
  timeoutMs?: number;
  /** Connections kept to sessiond at most (default 64). */
  maxSockets?: number;
  /** A fetch to use instead of the built-in pooled transport (for tests and other runtimes; slower). */
  fetch?: typeof fetch;
  /** Sent as User-Agent (default `sessiond-node/0.1`). */
  userAgent?: string;
  /**
   * Keep verified sessions in a local cache kept exact by sessiond's change
   * stream (cache.ts; README "Clients"): `true` for the defaults. Off by default.
   */
  cache?: boolean | CacheOptions;
  /**
   * Send the verifies (and the creates) made in one turn of the event loop
   * together, as one `POST /v1/sessions/verify-batch` (`create-batch`)
   * (batch.ts): each still gets exactly its own answer. On by default; `false`
   * sends each alone. Off when `traceContext` is set, so that each call's span
   * joins its own trace.
   */
  batch?: boolean;
  /**
   * Called before each call for the W3C trace context to send, so that
   * sessiond's spans join the app's trace (when its operator turns tracing
   * on). With OpenTelemetry:
   * `traceContext: () => { const c = {}; propagation.inject(context.active(), c); return c; }`.
   * A `traceparent` that is not well formed is not sent.
   */
  traceContext?: () => { traceparent?: string; tracestate?: string } | undefined;
}

/** The W3C traceparent form: version-traceid-parentid-flags, lowercase hex, ids not all zeros. */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;

interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

/**
 * SessiondClient calls one sessiond with one credential. Every method
 * resolves with the parsed success body or rejects with a SessiondError.
 * Safe for concurrent use; make one per process and reuse it.
 */
export class SessiondClient {
  readonly url: string;
  readonly #apiKey: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch | undefined;
  readonly #transport: Transport | undefined;
  /** Headers every call sends, made once. */
  readonly #baseHeaders: Record<string, string>;
  readonly #cache: SessionCache | undefined;
  readonly #verifier: Coalescer<SessionVerify, SessionVerified> | undefined;
  readonly #creator: Coalescer<SessionCreate, SessionIssued> | undefined;
  readonly #traceContext: SessiondClientOptions['traceContext'];

  constructor(opts: SessiondClientOptions) {
    if (!opts.url) throw new TypeError('SessiondClient: url is required');
    if (!opts.apiKey) throw new TypeError('SessiondClient: apiKey is required');
    this.url = opts.url.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#traceContext = opts.traceContext;
    this.#fetch = opts.fetch;
    let base: URL;
    try {
      base = new URL(this.url);
    } catch {
      throw new TypeError(`SessiondClient: url ${JSON.stringify(opts.url)} is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError('SessiondClient: url must be http(s)://host[:port]');
    this.#transport = this.#fetch ? undefined : new Transport({ url: base, timeoutMs: this.#timeoutMs, maxSockets: opts.maxSockets });
    this.#baseHeaders = {
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: 'application/json, application/problem+json',
      'User-Agent': opts.userAgent ?? 'sessiond-node/0.1',
    };
    if (opts.batch !== false && opts.traceContext === undefined) {
      this.#verifier = new Coalescer({
        single: (req) => this.#call(operations.verifySession, { body: req }),
        batch: async (items) => {
          const out: SessionVerifyResults = await this.#call(operations.verifySessions, { body: { items } });
          return out.results;
        },
        ok: 200,
        refused: (r) => refusal(operations.verifySession, r),
      });
      this.#creator = new Coalescer({
        single: (req) => this.#call(operations.createSession, { body: req }),
        batch: async (items) => {
          const out: SessionCreateResults = await this.#call(operations.createSessions, { body: { items } });
          return out.results;
        },
        ok: 201,
        refused: (r) => refusal(operations.createSession, r),
      });
    }
    if (opts.cache) {
      this.#cache = new SessionCache(
        {
          url: base,
          apiKey: this.#apiKey,
          userAgent: this.#baseHeaders['User-Agent']!,
          verify: (req) => this.#verifyRemote(req),
        },
        opts.cache === true ? {} : opts.cache,
      );
    }
  }

  /** The local cache's state and counters; undefined without the `cache` option. */
  cacheStats(): CacheStats | undefined {
    return this.#cache?.stats();
  }

  /**
   * How verifies and creates went out: batches sent, the calls they carried,
   * calls sent alone (undefined with `batch: false`).
   */
  batchStats(): Record<'verify' | 'create', { batches: number; batched: number; single: number }> | undefined {
    if (!this.#verifier || !this.#creator) return undefined;
    return { verify: { ...this.#verifier.sent }, create: { ...this.#creator.sent } };
  }

  /** close ends the client's pooled connections and its change stream: call it last (later calls fail). */
  close(): void {
    this.#cache?.close();
    this.#transport?.close();
  }

  // --- sessions -----------------------------------------------------------

  /**
   * Starts a session (a login when `user_id` is set; `amr` names the methods
   * the user proved, e.g. `['pwd']`; `remember: true` makes a remember-me
   * session, living by the policy's `remember_me` lifetime; `actor` an
   * impersonated one, held by the actor as `user_id`). Errors:
   * `session_limit_reached` under a `reject` policy, `invalid_request` (field
   * `remember`) when the policy has no `remember_me` lifetime.
   */
  createSession(req: SessionCreate = {}): Promise<SessionIssued> {
    if (this.#creator) return this.#creator.call(req);
    return this.#call(operations.createSession, { body: req });
  }

  /**
   * Verifies a token (as found in a cookie: any string is fine). When the
   * answer has `token`, the session was re-signed after a key rotation:
   * replace the cookie. `min_aal` and `max_factor_age` (seconds per method)
   * ask for a step-up level; the tenant policy's `min_aal` applies to every
   * verify. Errors: the session-ended codes, `csrf_mismatch`,
   * `reauth_required`, `step_up_required` (`err.stepUp` says what is missing).
   */
  verifySession(req: SessionVerify): Promise<SessionVerified> {
    if (this.#cache) return this.#cache.verify(req);
    return this.#verifyRemote(req);
  }

  #verifyRemote(req: SessionVerify): Promise<SessionVerified> {
    if (this.#verifier) return this.#verifier.call(req);
    return this.#call(operations.verifySession, { body: req });
  }

  /**
   * Answers a verify from the local cache alone, synchronously, when the
   * cache may (the same rules as verifySession's hits: stream live, deadlines,
   * `max_auth_age`, CSRF, binding, the policy's and the call's `min_aal`,
   * `max_factor_age`); undefined otherwise (no `cache` option, a
   * miss, a rule the cache cannot decide): then call verifySession. For
   * middleware that wants a hit to cost no promise. Without `req.device`,
   * `device` is called for it only if the tenant's binding compares it.
   */
  verifyCached(req: SessionVerify, device?: () => DeviceIn): SessionVerified | undefined {
    return this.#cache?.hit(req, device);
  }

  /**
   * Replaces a session's token (login with `user_id`, re-auth with
   * `reauthenticated`); the old token dies at once. `amr` names the methods
   * the user just proved: with `user_id` the session's only factors, with
   * `reauthenticated: true` added to its factors (a step-up).
   */
  regenerateSession(req: SessionRegenerate): Promise<SessionIssued> {
    return this.#forgetting(() => this.#cache!.forgetToken(req.token), () => this.#call(operations.regenerateSession, { body: req }));
  }

  /** Ends the session of a token (logout). Idempotent: a token already gone, or junk, succeeds too. */
  async revokeToken(token: string): Promise<void> {
    const body: SessionRevoke = { token };
    await this.#forgetting(() => this.#cache!.forgetToken(token), () => this.#call(operations.revokeToken, { body }));
  }

  /** Reads a session by its public id. Errors: `not_found`. */
  getSession(id: string): Promise<Session> {
    return this.#call(operations.getSession, { params: { session_id: id } });
  }

  /**
   * Applies an RFC 7396 JSON merge patch to a session's `data` (members set
   * to null are removed). With `ifVersion` it applies only to that version
   * (else `version_conflict`).
   */
  patchSessionData(id: string, patch: Record<string, unknown>, opts: { ifVersion?: number } = {}): Promise<Session> {
    const headers: Record<string, string> = {};
    if (opts.ifVersion !== undefined) headers['If-Match'] = `"${opts.ifVersion}"`;
    return this.#forgetting(
      () => this.#cache!.forgetSessions([id]),
      () => this.#call(operations.patchSessionData, { params: { session_id: id }, body: patch, headers }),
    );
  }

  /** Revokes a session by its public id. Errors: `not_found`. */
  async revokeSession(id: string): Promise<void> {
    await this.#forgetting(() => this.#cache!.forgetSessions([id]), () => this.#call(operations.revokeSession, { params: { session_id: id } }));
  }

  /** One page of the tenant's live sessions, or one user's. */
  listSessions(q: { userId?: string; cursor?: string; limit?: number } = {}): Promise<SessionPage> {
    return this.#call(operations.listSessions, { query: { user_id: q.userId, cursor: q.cursor, limit: q.limit } });
  }

  /** One page of a user's live sessions (their devices), oldest first; follow `next_cursor` ("" on the last page). */
  listUserSessions(userId: string, q: { cursor?: string; limit?: number } = {}): Promise<SessionPage> {
    return this.#call(operations.listUserSessions, { params: { user_id: userId }, query: { cursor: q.cursor, limit: q.limit } });
  }

  /** All of a user's live sessions (devices), oldest first: every page of listUserSessions (at most `max`). */
  async allUserSessions(userId: string, max = 10_000): Promise<Session[]> {
    const out: Session[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.listUserSessions(userId, { cursor, limit: 200 });
      out.push(...page.sessions);
      cursor = page.next_cursor || undefined;
    } while (cursor && out.length < max);
    return out;
  }

  /** Ends every session of a user, or every one but `except` ("log out other devices"); returns the ids ended. */
  async revokeUserSessions(userId: string, opts: { except?: string } = {}): Promise<string[]> {
    const out: RevokedSessions = await this.#forgetting(
      () => this.#cache!.forgetUser(userId, opts.except),
      () => this.#call(operations.revokeUserSessions, { params: { user_id: userId }, query: { except: opts.except } }),
    );
    return out.revoked;
  }

  /**
   * Ends every impersonated session of a user (those created with `actor`),
   * leaving the user's own; returns the ids ended. (revokeUserSessions ends
   * them too.) With the cache, they stop being hits at once in this client.
   */
  async revokeImpersonations(userId: string): Promise<string[]> {
    const out: RevokedSessions = await this.#forgetting(
      () => this.#cache!.forgetActing(userId),
      () => this.#call(operations.revokeUserSessions, { params: { user_id: userId }, query: { actor: 'any' } }),
    );
    this.#cache?.forgetSessions(out.revoked);
    return out.revoked;
  }

  // --- tenant administration (API key with the `admin` scope) ---------------

  getPolicy(): Promise<Policy> {
    return this.#call(operations.getPolicy, {});
  }

  putPolicy(p: Policy): Promise<Policy> {
    return this.#call(operations.putPolicy, { body: p });
  }

  async listKeys(): Promise<Key[]> {
    const out: KeyList = await this.#call(operations.listKeys, {});
    return out.keys;
  }

  /** Makes a new active signing key; the old one keeps verifying (re-signing) for `grace_period` seconds. */
  rotateKey(req: KeyRotate = {}): Promise<Key> {
    return this.#call(operations.rotateKey, { body: req });
  }

  retireKey(kid: string): Promise<Key> {
    return this.#call(operations.retireKey, { params: { kid } });
  }

  async listAPIKeys(): Promise<APIKeyList['api_keys']> {
    const out: APIKeyList = await this.#call(operations.listAPIKeys, {});
    return out.api_keys;
  }

  createAPIKey(req: APIKeyCreate): Promise<APIKeyCreated> {
    return this.#call(operations.createAPIKey, { body: req });
  }

  async revokeAPIKey(id: string): Promise<void> {
    await this.#call(operations.revokeAPIKey, { params: { api_key_id: id } });
  }

  listEvents(q: { type?: EventType; userId?: string; cursor?: string; limit?: number } = {}): Promise<EventList> {
    return this.#call(operations.listEvents, { query: { type: q.type, user_id: q.userId, cursor: q.cursor, limit: q.limit } });
  }

  // --- operator (construct the client with the operator token) --------------

  /** Creates a tenant; the answer holds its first API key, shown this once. */
  createTenant(req: TenantCreate): Promise<TenantCreated> {
    return this.#call(operations.createTenant, { body: req });
  }

  // --- transport ----------------------------------------------------------

  /**
   * #forgetting makes a call that ends or changes sessions, dropping their
   * cache entries before it (so no hit serves them meanwhile) and after it
   * (so no verify that raced it keeps a stale answer): this instance reads
   * its own writes without waiting for the change stream.
   */
  async #forgetting<T>(forget: () => void, call: () => Promise<T>): Promise<T> {
    if (this.#cache === undefined) return call();
    forget();
    try {
      return await call();
    } finally {
      forget();
    }
  }

  async #call<T>(op: Operation, o: CallOptions): Promise<T> {
    let path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = o.params?.[name];
      if (v === undefined) throw new TypeError(`${op.method} ${op.path}: missing ${name}`);
      return encodeURIComponent(v);
    });
    if (o.query) {
      const qs = new URLSearchParams();
      for (const [k, v] of Object.entries(o.query)) {
        if (v !== undefined && v !== '') qs.set(k, String(v));
      }
      const q = qs.toString();
      if (q !== '') path += `?${q}`;
    }

    const headers: Record<string, string> = o.headers ? { ...this.#baseHeaders, ...o.headers } : { ...this.#baseHeaders };
    const trace = this.#traceContext?.();
    if (trace?.traceparent !== undefined && TRACEPARENT.test(trace.traceparent)) {
      headers.traceparent = trace.traceparent;
      if (trace.tracestate) headers.tracestate = trace.tracestate;
    }
    let body: string | undefined;
    if (o.body !== undefined) {
      body = JSON.stringify(o.body);
      headers['Content-Type'] = op.contentType ?? 'application/json';
    }

    let res: RawResponse;
    try {
      res = this.#transport
        ? await this.#transport.request(op.method, path, headers, body, op.method !== 'POST' || op === operations.verifySession || op === operations.verifySessions || op === operations.revokeToken)
        : await viaFetch(this.#fetch!, this.url + path, op.method, headers, body, this.#timeoutMs);
    } catch (cause) {
      throw new SessiondError({
        code: 'unavailable',
        httpStatus: 0,
        message: `sessiond unreachable (${op.method} ${op.path}): ${errorText(cause)}`,
        cause,
      });
    }

    if (res.status >= 200 && res.status < 300) {
      if (res.body === '') return undefined as T;
      try {
        return JSON.parse(res.body) as T;
      } catch (cause) {
        throw new SessiondError({ code: 'internal', httpStatus: res.status, message: `sessiond sent invalid JSON (${op.method} ${op.path})`, cause });
      }
    }
    throw problemError(op, res);
  }
}

/** refusal is the error a batch result other than a success stands for: what op alone would have thrown. */
function refusal(op: Operation, r: BatchResult): SessiondError {
  const p = r.body as unknown as Problem;
  const problem = p && typeof p.code === 'string' ? p : undefined;
  const code: ProblemCode = problem?.code ?? 'internal';
  return new SessiondError({
    code,
    httpStatus: r.status,
    message: `sessiond ${op.method} ${op.path}: ${code}: ${problem?.detail ?? problem?.title ?? `HTTP ${r.status}`}`,
    requestId: problem?.request_id,
    problem,
  });
}

/** viaFetch makes a call with a caller-supplied fetch (the `fetch` option). */
async function viaFetch(f: typeof fetch, url: string, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<RawResponse> {
  const res = await f(url, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  return { status: res.status, header: (name) => res.headers.get(name) ?? undefined, body: text };
}

function problemError(op: Operation, res: RawResponse): SessiondError {
  const retry = Number.parseInt(res.header('retry-after') ?? '', 10);
  const retryAfter = Number.isFinite(retry) && retry >= 0 ? retry : undefined;
  let problem: Problem | undefined;
  if ((res.header('content-type') ?? '').includes('json')) {
    try {
      const p = JSON.parse(res.body) as Problem;
      if (p && typeof p.code === 'string') problem = p;
    } catch {
      // not a problem document: handled below
    }
  }
  // A 5xx without a problem body (a proxy's 502, a crash) is an outage as far as callers know.
  const code: ProblemCode = problem?.code ?? (res.status >= 500 ? 'unavailable' : 'internal');
  const detail = problem?.detail ?? problem?.title ?? `HTTP ${res.status}`;
  return new SessiondError({
    code,
    httpStatus: res.status,
    message: `sessiond ${op.method} ${op.path}: ${code}: ${detail}`,
    retryAfter,
    requestId: problem?.request_id ?? res.header('x-request-id') ?? undefined,
    problem,
  });
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    return cause instanceof Error ? `${err.message}: ${cause.message}` : err.message;
  }
  return String(err);
}

export { verifyWebhook, WebhookVerificationError, WEBHOOK_TOLERANCE_SECONDS, type WebhookPayload } from './webhooks.js';
