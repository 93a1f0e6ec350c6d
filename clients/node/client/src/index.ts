/**
 * @sessiond/client — a typed client of the sessiond REST API.
 *
 * Zero runtime dependencies: it uses Node 20's global fetch, whose default
 * agent keeps connections alive between calls. Types are generated from
 * api/openapi.yaml (src/openapi.ts) and every operation it calls is checked
 * against that document by the test suite.
 */
import { SessiondError, type ProblemCode } from './errors.js';
import { operations, type Operation } from './operations.js';
import type {
  APIKeyCreate,
  APIKeyCreated,
  APIKeyList,
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
  RevokedSessions,
  TenantCreate,
  TenantCreated,
} from './openapi.js';

export type * from './openapi.js';
export { SessiondError, SESSION_ENDED_CODES, isSessionEnded, isUnavailable, type ProblemCode } from './errors.js';
export { operations, type Operation, type OperationName } from './operations.js';

/** Options of a SessiondClient. */
export interface SessiondClientOptions {
  /** sessiond's base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** A tenant API key (`sk_...`), or the operator token for `createTenant`. */
  apiKey: string;
  /** Per-call timeout in milliseconds (default 5000); a timeout is an `unavailable` error. */
  timeoutMs?: number;
  /** The fetch to use (default: the global fetch). */
  fetch?: typeof fetch;
  /** Sent as User-Agent (default `sessiond-node/0.1`). */
  userAgent?: string;
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
  readonly #fetch: typeof fetch;
  readonly #userAgent: string;
  readonly #traceContext: SessiondClientOptions['traceContext'];

  constructor(opts: SessiondClientOptions) {
    if (!opts.url) throw new TypeError('SessiondClient: url is required');
    if (!opts.apiKey) throw new TypeError('SessiondClient: apiKey is required');
    this.url = opts.url.replace(/\/+$/, '');
    this.#apiKey = opts.apiKey;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#userAgent = opts.userAgent ?? 'sessiond-node/0.1';
    this.#traceContext = opts.traceContext;
  }

  // --- sessions -----------------------------------------------------------

  /** Starts a session (a login when `user_id` is set). Errors: `session_limit_reached` under a `reject` policy. */
  createSession(req: SessionCreate = {}): Promise<SessionIssued> {
    return this.#call(operations.createSession, { body: req });
  }

  /**
   * Verifies a token (as found in a cookie: any string is fine). When the
   * answer has `token`, the session was re-signed after a key rotation:
   * replace the cookie. Errors: the session-ended codes, `csrf_mismatch`,
   * `reauth_required`.
   */
  verifySession(req: SessionVerify): Promise<SessionVerified> {
    return this.#call(operations.verifySession, { body: req });
  }

  /** Replaces a session's token (login with `user_id`, re-auth with `reauthenticated`); the old token dies at once. */
  regenerateSession(req: SessionRegenerate): Promise<SessionIssued> {
    return this.#call(operations.regenerateSession, { body: req });
  }

  /** Ends the session of a token (logout). Idempotent: a token already gone, or junk, succeeds too. */
  async revokeToken(token: string): Promise<void> {
    const body: SessionRevoke = { token };
    await this.#call(operations.revokeToken, { body });
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
    return this.#call(operations.patchSessionData, { params: { session_id: id }, body: patch, headers });
  }

  /** Revokes a session by its public id. Errors: `not_found`. */
  async revokeSession(id: string): Promise<void> {
    await this.#call(operations.revokeSession, { params: { session_id: id } });
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
    const out: RevokedSessions = await this.#call(operations.revokeUserSessions, {
      params: { user_id: userId },
      query: { except: opts.except },
    });
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

  async #call<T>(op: Operation, o: CallOptions): Promise<T> {
    let path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const v = o.params?.[name];
      if (v === undefined) throw new TypeError(`${op.method} ${op.path}: missing ${name}`);
      return encodeURIComponent(v);
    });
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(o.query ?? {})) {
      if (v !== undefined && v !== '') qs.set(k, String(v));
    }
    if ([...qs.keys()].length > 0) path += `?${qs}`;

    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.#apiKey}`,
      Accept: 'application/json, application/problem+json',
      'User-Agent': this.#userAgent,
      ...o.headers,
    };
    const trace = this.#traceContext?.();
    if (trace?.traceparent !== undefined && TRACEPARENT.test(trace.traceparent)) {
      headers.traceparent = trace.traceparent;
      if (trace.tracestate) headers.tracestate = trace.tracestate;
    }
    let body: string | undefined;
    if (o.body !== undefined) {
      headers['Content-Type'] = op.contentType ?? 'application/json';
      body = JSON.stringify(o.body);
    }

    let res: Response;
    try {
      res = await this.#fetch(this.url + path, {
        method: op.method,
        headers,
        body,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (cause) {
      throw new SessiondError({
        code: 'unavailable',
        httpStatus: 0,
        message: `sessiond unreachable (${op.method} ${op.path}): ${errorText(cause)}`,
        cause,
      });
    }

    let text: string;
    try {
      text = await res.text();
    } catch (cause) {
      throw new SessiondError({ code: 'unavailable', httpStatus: 0, message: `sessiond response lost (${op.method} ${op.path})`, cause });
    }
    if (res.ok) {
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (cause) {
        throw new SessiondError({ code: 'internal', httpStatus: res.status, message: `sessiond sent invalid JSON (${op.method} ${op.path})`, cause });
      }
    }
    throw problemError(op, res, text);
  }
}

function problemError(op: Operation, res: Response, text: string): SessiondError {
  const retry = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
  const retryAfter = Number.isFinite(retry) && retry >= 0 ? retry : undefined;
  let problem: Problem | undefined;
  if ((res.headers.get('Content-Type') ?? '').includes('json')) {
    try {
      const p = JSON.parse(text) as Problem;
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
    requestId: problem?.request_id ?? res.headers.get('X-Request-Id') ?? undefined,
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
