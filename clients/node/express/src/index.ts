/**
 * @sessiond/express — `req.session` for Express (4 and 5), backed by sessiond.
 *
 *   app.use(express.urlencoded({ extended: false }));   // before, for the _csrf form field
 *   app.use(sessiond({ url: process.env.SESSIOND_URL, apiKey: process.env.SESSIOND_API_KEY }));
 *
 * On each request with a session cookie it makes one verify call to sessiond
 * (checking the CSRF token on POST/PUT/PATCH/DELETE in the same call). What
 * happens next depends on the problem `code`, never on the status alone:
 *
 * - valid: `req.session` is the user's session; when sessiond re-signed the
 *   token after a key rotation, the cookie is re-set;
 * - session ended (`session_invalid`, `session_expired_*`, `binding_mismatch`):
 *   the cookie is cleared and `req.session` is a new anonymous session;
 * - `csrf_mismatch`: 403;
 * - sessiond unreachable or `unavailable`: 503 with Retry-After, cookie kept;
 * - `unauthorized` / `forbidden` (the API key is revoked or lacks the
 *   `sessions` scope): 500, cookie kept: the app is broken, not the session.
 *
 * Errors go to `next(err)` with `err.status` set, so the app's error handler
 * (or Express's) answers them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessiondClient, isSessionEnded, type AMRMethod, type CacheOptions, type SessionVerified, type SessionVerify, type StepUp } from '@sessiond/client';
import { readCookie, resolveCookie, type CookieOptions } from './cookie.js';
import { httpError, toBrowserError } from './errors.js';
import { SessiondSession, deviceOf, type SessionContext } from './session.js';

export { SessiondSession, mergePatch, type DeviceSession, type AssuranceRequirement } from './session.js';
export { browserStatus, toBrowserError, httpError, type BrowserError } from './errors.js';
export type { CookieOptions } from './cookie.js';
export { SessiondClient, SessiondError, isSessionEnded, isStepUpRequired, isUnavailable, type AMRMethod, type CacheOptions, type CacheStats, type Factor, type StepUp } from '@sessiond/client';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** The sessiond session of this request (set by the sessiond middleware). */
      session: SessiondSession;
    }
  }
}

type Req = IncomingMessage & { ip?: string; body?: unknown; session?: SessiondSession };
type Res = ServerResponse;
type Next = (err?: unknown) => void;
/** A middleware, typed without Express so the package has no dependency on it. */
export type Middleware = (req: Req, res: Res, next: Next) => void;

/** Options of the sessiond middleware. */
export interface SessiondOptions {
  /** sessiond's base URL (with `apiKey`), unless `client` is given. */
  url?: string;
  /** The app's API key (scope `sessions`). */
  apiKey?: string;
  /** A ready client (instead of url and apiKey). */
  client?: SessiondClient;
  /**
   * Answer verifies from a local cache kept exact by sessiond's change stream
   * (with url and apiKey; for your own `client`, pass `cache` to it). Off by
   * default. See README "Clients" for what it guarantees.
   */
  cache?: boolean | CacheOptions;
  /** The session cookie (default `sid`, HttpOnly, SameSite=Lax, Secure in production). */
  cookie?: CookieOptions;
  /**
   * Check the CSRF token on unsafe methods (POST, PUT, PATCH, DELETE) of
   * requests that carry a session (default true). The token comes from the
   * `X-CSRF-Token` header or the `_csrf` body field (mount a body parser first).
   */
  csrf?: boolean;
  /** Idle timeout of new sessions, in seconds; can only shorten the tenant policy's. */
  idleTimeout?: number;
  /** Absolute timeout of new sessions, in seconds; can only shorten the tenant policy's. */
  absoluteTimeout?: number;
  /** The clock of the step-up guards' local checks (`requireFactor`), in ms since the epoch (default Date.now; tests). */
  now?: () => number;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** sessiond returns the middleware that sets `req.session`. */
export function sessiond(opts: SessiondOptions): Middleware {
  const client = opts.client ?? new SessiondClient({ url: requireOpt(opts.url, 'url'), apiKey: requireOpt(opts.apiKey, 'apiKey'), cache: opts.cache });
  const ctx: SessionContext = {
    client,
    cookie: resolveCookie(opts.cookie),
    idleTimeout: opts.idleTimeout,
    absoluteTimeout: opts.absoluteTimeout,
    now: opts.now ?? Date.now,
  };
  const checkCSRF = opts.csrf ?? true;

  return function sessiondMiddleware(req, res, next) {
    const session = new SessiondSession(ctx, req, res);
    req.session = session;
    const token = readCookie(req, ctx.cookie.name);
    if (token === undefined) return next();

    const body: SessionVerify = { token };
    if (checkCSRF && !SAFE_METHODS.has(req.method ?? 'GET')) body.csrf_token = csrfFrom(req);
    // A cache hit (cache option) is answered here and now: no promise, no
    // microtask, and the device is read only if the tenant's binding compares it.
    const hit = client.verifyCached(body, () => deviceOf(req));
    if (hit !== undefined) {
      accept(session, token, hit);
      return next();
    }
    body.device ??= deviceOf(req);
    client.verifySession(body).then(
      (v) => {
        accept(session, token, v);
        next();
      },
      (err: unknown) => {
        if (isSessionEnded(err)) {
          session.reset(true);
          return next();
        }
        next(toBrowserError(err));
      },
    );
  };
}

/**
 * requireRecentAuth lets a request through only if the user authenticated
 * (logged in, or re-entered their password: `req.session.reauthenticate()`)
 * at most `maxAgeSeconds` ago, asking sessiond (`max_auth_age`). Otherwise it
 * calls `onRequired` (default: a 403 `reauth_required` error).
 */
export function requireRecentAuth(maxAgeSeconds: number, onRequired?: (req: Req, res: Res, next: Next) => void): Middleware {
  const required = onRequired ?? ((_req: Req, _res: Res, next: Next) => next(httpError(403, 'reauth_required', 'Please enter your password again.')));
  return (req, res, next) => {
    const session = req.session;
    if (!session) return next(new Error('requireRecentAuth: mount the sessiond middleware first'));
    if (session.isNew || session.userId === undefined) return required(req, res, next);
    session.recentlyAuthenticated(maxAgeSeconds).then(
      (ok) => (ok ? next() : required(req, res, next)),
      (err: unknown) => next(err),
    );
  };
}

/** What a step-up guard calls when the session falls short; `stepUp` says what it lacks. */
export type StepUpHandler = (req: Req, res: Res, next: Next, stepUp: StepUp) => void;

/**
 * requireAal lets a request through only if the user proved factors enough
 * for the assurance `level` (2: two kinds, e.g. `pwd` and `otp`:
 * `req.session.login(user, { amr: ['pwd'] })`, then
 * `req.session.stepUp(['otp'])`). Decided from the session this request
 * verified, with no call. Otherwise it calls `onRequired` (default: a 403
 * `step_up_required` error carrying `stepUp`).
 */
export function requireAal(level: 1 | 2, onRequired?: StepUpHandler): Middleware {
  return stepUpGuard('requireAal', { minAal: level }, onRequired);
}

/**
 * requireFactor lets a request through only if the user proved `method`
 * (e.g. `otp`) in this session at most `maxAgeSeconds` ago. A method missing
 * or too old by the app's clock is refused with no call; one recent enough is
 * confirmed by sessiond (`max_factor_age`), as `requireRecentAuth` does.
 * Otherwise it calls `onRequired` (default: a 403 `step_up_required` error
 * carrying `stepUp`); prove the method again, then `req.session.stepUp([method])`.
 */
export function requireFactor(method: AMRMethod, maxAgeSeconds: number, onRequired?: StepUpHandler): Middleware {
  return stepUpGuard('requireFactor', { maxFactorAge: { [method]: maxAgeSeconds } }, onRequired);
}

function stepUpGuard(name: string, need: { minAal?: number; maxFactorAge?: Partial<Record<AMRMethod, number>> }, onRequired?: StepUpHandler): Middleware {
  const required: StepUpHandler =
    onRequired ??
    ((_req, _res, next, stepUp) => next(Object.assign(httpError(403, 'step_up_required', 'Please confirm it is you with another factor.'), { stepUp })));
  return (req, res, next) => {
    const session = req.session;
    if (!session) return next(new Error(`${name}: mount the sessiond middleware first`));
    session.stepUpNeeded(need).then(
      (lack) => (lack === undefined ? next() : required(req, res, next, lack)),
      (err: unknown) => next(err),
    );
  };
}

/** requireLogin lets a request through only with a logged-in user; otherwise `onMissing` (default: a 401 error). */
export function requireLogin(onMissing?: (req: Req, res: Res, next: Next) => void): Middleware {
  const missing = onMissing ?? ((_req: Req, _res: Res, next: Next) => next(httpError(401, 'login_required', 'Please log in.')));
  return (req, res, next) => (req.session?.userId !== undefined ? next() : missing(req, res, next));
}

/** accept loads sessiond's answer v to a verify of token into session (a re-signed token replaces the cookie). */
function accept(session: SessiondSession, token: string, v: SessionVerified): void {
  session.load(v.token ?? token, v.session, v.csrf_token, v.token !== undefined && v.token !== token);
}

function csrfFrom(req: Req): string {
  const h = req.headers['x-csrf-token'];
  if (typeof h === 'string' && h !== '') return h;
  const body = req.body;
  if (body && typeof body === 'object' && typeof (body as Record<string, unknown>)._csrf === 'string') {
    return (body as Record<string, string>)._csrf!;
  }
  return '';
}

function requireOpt(v: string | undefined, name: string): string {
  if (!v) throw new TypeError(`sessiond(): ${name} is required (or pass client)`);
  return v;
}
