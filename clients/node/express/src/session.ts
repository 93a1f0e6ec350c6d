import type { IncomingMessage, ServerResponse } from 'node:http';
import { SessiondError, isSessionEnded, type Actor, type AMRMethod, type DeviceIn, type Factor, type Session, type SessionIssued, type SessiondClient, type StepUp } from '@sessiond/client';
import { writeCookie, type ResolvedCookie } from './cookie.js';
import { toBrowserError } from './errors.js';

/** One of the user's devices (sessions), as `devices()` lists them. */
export interface DeviceSession extends Session {
  /** True for the session of this request. */
  current: boolean;
}

/** @internal what a session needs from its middleware. */
export interface SessionContext {
  client: SessiondClient;
  cookie: ResolvedCookie;
  idleTimeout: number | undefined;
  absoluteTimeout: number | undefined;
  /** The clock of the local step-up checks, in ms since the epoch. */
  now: () => number;
}

/** What a step-up check asks for: a level, and methods proved at most so many seconds ago. */
export interface AssuranceRequirement {
  /** The assurance level (2: factors of two kinds). */
  minAal?: number;
  /** Per method, the most seconds since the user proved it. */
  maxFactorAge?: Partial<Record<AMRMethod, number>>;
}

type Data = Record<string, unknown>;

/**
 * SessiondSession is `req.session`: the request's sessiond session, or a new
 * (anonymous, unsaved) one when the browser sent no valid cookie.
 *
 * Reading is free: the middleware verified the cookie once. Change `data` and
 * call `save()`; call `login(userId)` after checking a password (a new token,
 * so a planted cookie is worthless), `destroy()` to log out. Every method that
 * calls sessiond rejects with an error Express answers with the right status:
 * 503 when sessiond is down, 500 when the API key is bad; none of them logs
 * the user out on such errors.
 */
export class SessiondSession {
  /** The public session id (safe to log); undefined while the session is new. */
  id: string | undefined;
  /** The logged-in user's id; undefined for an anonymous session. */
  userId: string | undefined;
  /** The app's own data (a JSON object). Call `save()` after changing it. Members set to null are removed. */
  data: Data = {};
  /** The CSRF token to put in forms (`_csrf`) or send as `X-CSRF-Token`; undefined while the session is new. */
  csrfToken: string | undefined;
  /** The methods the user proved (RFC 8176: `pwd`, `otp`, …), each with when it was last proved; empty while anonymous. */
  amr: Factor[] = [];
  /** The assurance level: 2 once the user proved factors of two kinds (e.g. `pwd` and `otp`), else 1; undefined while the session is new. */
  aal: 1 | 2 | undefined;
  /** The lifetime the session lives by: `standard`, `remember_me` (`login(userId, { remember: true })`) or `impersonation`; undefined while the session is new. */
  profile: Session['profile'] | undefined;
  /** Who acts as the user in an impersonated session (for a "you are being impersonated" banner); undefined for the user's own sessions. */
  actor: Actor | undefined;
  /** sessiond's whole view of the session, as of this request. */
  info: Session | undefined;

  #token: string | undefined;
  #saved: Data = {};
  /** authTime and expiresAt, made from info when first read (null: not yet). */
  #authTime: Date | undefined | null = null;
  #expiresAt: Date | undefined | null = null;
  readonly #ctx: SessionContext;
  readonly #req: IncomingMessage & { ip?: string };
  readonly #res: ServerResponse;

  /** @internal made by the middleware. */
  constructor(ctx: SessionContext, req: IncomingMessage & { ip?: string }, res: ServerResponse) {
    this.#ctx = ctx;
    this.#req = req;
    this.#res = res;
  }

  /** When the user last authenticated (login or re-auth); undefined for anonymous sessions. */
  get authTime(): Date | undefined {
    if (this.#authTime === null) this.#authTime = this.info?.auth_time ? new Date(this.info.auth_time) : undefined;
    return this.#authTime;
  }

  /** When the session ends whatever the activity; undefined while the session is new. */
  get expiresAt(): Date | undefined {
    if (this.#expiresAt === null) this.#expiresAt = this.info ? new Date(this.info.expires_at) : undefined;
    return this.#expiresAt;
  }

  /** True until the session exists in sessiond (no cookie yet). */
  get isNew(): boolean {
    return this.#token === undefined;
  }

  /** True when a user is logged in. */
  get isAuthenticated(): boolean {
    return this.userId !== undefined;
  }

  /** The device sessiond records and binds the session to: user agent and IP of this request. */
  get device(): DeviceIn {
    return deviceOf(this.#req);
  }

  /** @internal adopts sessiond's answer; sets the cookie when the token changed. */
  load(token: string, s: Session, csrfToken: string, setCookie: boolean): void {
    this.#token = token;
    this.info = s;
    this.id = s.id;
    this.userId = s.user_id;
    // saved is only read (save() diffs against it): sessiond's answer as it
    // is, which a cached answer shares frozen; data is the app's own copy.
    this.#saved = s.data ?? {};
    this.data = copyData(this.#saved);
    this.csrfToken = csrfToken;
    this.#authTime = this.#expiresAt = null;
    this.amr = s.amr ?? [];
    this.aal = s.aal;
    this.profile = s.profile;
    this.actor = s.actor;
    if (setCookie) writeCookie(this.#res, this.#ctx.cookie, token, this.expiresAt);
  }

  /** @internal forgets the session and clears the cookie: the user is anonymous from here on. */
  reset(clearCookie: boolean): void {
    this.#token = undefined;
    this.info = this.id = this.userId = this.csrfToken = this.aal = this.profile = this.actor = undefined;
    this.#authTime = this.#expiresAt = null;
    this.amr = [];
    this.data = {};
    this.#saved = {};
    if (clearCookie) writeCookie(this.#res, this.#ctx.cookie, undefined);
  }

  /**
   * Saves `data`: a new session is created (and the cookie set); an existing
   * one gets a JSON merge patch of what changed (nothing sent if nothing did).
   */
  async save(): Promise<void> {
    await guard(async () => {
      if (this.#token === undefined) {
        this.#issued(await this.#ctx.client.createSession(this.#createBody()));
        return;
      }
      const patch = mergePatch(this.#saved, this.data);
      if (patch === undefined) return;
      const s = await this.#ctx.client.patchSessionData(this.id!, patch as Data);
      this.info = s;
      this.#authTime = this.#expiresAt = null;
      this.#saved = s.data ?? {};
      this.data = copyData(this.#saved);
    });
  }

  /**
   * Logs `userId` in: the session gets a new token and id (the old cookie is
   * dead at once: no session fixation), `auth_time` is now, and `data` moves
   * over (unsaved changes included). Call it after checking the password.
   * `amr` names the methods the user proved (e.g. `['pwd']`, or
   * `['pwd', 'otp']`): the session's only factors, its `aal` following.
   * `remember: true` makes a remember-me session ("Remember me" ticked): it
   * lives by the tenant policy's `remember_me` lifetime (sessiond answers 400
   * `invalid_request`, field `remember`, when the policy has none), `profile`
   * is `remember_me`, and the cookie lasts until its `expiresAt`.
   */
  async login(userId: string, opts: { amr?: AMRMethod[]; remember?: boolean } = {}): Promise<void> {
    const extra = {
      ...(opts.amr !== undefined && opts.amr.length > 0 ? { amr: opts.amr } : {}),
      ...(opts.remember ? { remember: true } : {}),
    };
    await guard(async () => {
      const pending = this.#token === undefined ? undefined : mergePatch(this.#saved, this.data);
      const data = this.data;
      if (this.#token !== undefined) {
        try {
          this.#issued(await this.#ctx.client.regenerateSession({ token: this.#token, user_id: userId, ...extra }));
          if (pending !== undefined) {
            this.data = data;
            await this.save();
          }
          return;
        } catch (err) {
          if (!isSessionEnded(err)) throw err;
          // The session ended since this request verified it: start afresh.
        }
      }
      this.#issued(await this.#ctx.client.createSession({ ...this.#createBody(data), user_id: userId, ...extra }));
    });
  }

  /**
   * Replaces the session's token and id (after a privilege change). With
   * `reauthenticated: true` (after the user re-entered their password)
   * `auth_time` becomes now, satisfying `requireRecentAuth`; with `amr` as
   * well, those methods are added to the session's factors (a step-up; a
   * method it had gets the new time).
   */
  async regenerate(opts: { reauthenticated?: boolean; amr?: AMRMethod[] } = {}): Promise<void> {
    await guard(async () => {
      if (this.#token === undefined) {
        this.#issued(await this.#ctx.client.createSession(this.#createBody()));
        return;
      }
      const amr = opts.amr !== undefined && opts.amr.length > 0 ? { amr: opts.amr } : {};
      this.#issued(await this.#ctx.client.regenerateSession({ token: this.#token, reauthenticated: opts.reauthenticated ?? false, ...amr }));
    });
  }

  /** Marks the user as having just re-entered their password: `regenerate({reauthenticated: true})`. */
  reauthenticate(): Promise<void> {
    return this.regenerate({ reauthenticated: true });
  }

  /**
   * Records a step-up: the user just proved `amr` (e.g. `['otp']` after
   * checking the code) — `regenerate({reauthenticated: true, amr})`. The
   * methods join the session's factors (a method it had gets the new time),
   * so `aal` becomes 2 once two kinds are proved, satisfying `requireAal` and
   * `requireFactor`.
   */
  stepUp(amr: AMRMethod[]): Promise<void> {
    return this.regenerate({ reauthenticated: true, amr });
  }

  /** The factor of `method` the user proved in this session, if any. */
  factor(method: AMRMethod): Factor | undefined {
    return this.amr.find((f) => f.method === method);
  }

  /**
   * What the session lacks for `need` (a level, methods proved recently
   * enough), or undefined when it meets it. Decided from this request's
   * verified session (`aal`, `amr`) and the clock when that suffices: a
   * level, or a method missing or too old, needs no call. A method recent
   * enough here is confirmed by sessiond (`max_factor_age` on verify, as
   * `recentlyAuthenticated` does), whose clock decides. A session that ended
   * meanwhile is reset.
   */
  async stepUpNeeded(need: AssuranceRequirement): Promise<StepUp | undefined> {
    const level = need.minAal ?? 1;
    const have = this.aal ?? 1;
    const now = this.#ctx.now();
    const ages = Object.entries(need.maxFactorAge ?? {}).filter((e): e is [AMRMethod, number] => typeof e[1] === 'number');
    const stale = ages
      .filter(([m, age]) => {
        const at = this.factor(m) ? Date.parse(this.factor(m)!.at) : NaN;
        return !Number.isFinite(at) || now - at > age * 1000;
      })
      .map(([m]) => m);
    const token = this.#token;
    if (token === undefined || this.userId === undefined) return { aal: level, have_aal: have, factors: ages.map(([m]) => m) };
    if (have < level || stale.length > 0) return { aal: level, have_aal: have, factors: stale };
    if (ages.length === 0) return undefined; // the level was verified with this request and changes only with the token
    return guard(async () => {
      try {
        const req = { token, device: this.device, max_factor_age: Object.fromEntries(ages), ...(need.minAal !== undefined ? { min_aal: need.minAal } : {}) };
        const v = await this.#ctx.client.verifySession(req);
        this.load(v.token ?? token, v.session, v.csrf_token, v.token !== undefined && v.token !== token);
        return undefined;
      } catch (err) {
        if (err instanceof SessiondError && err.code === 'step_up_required') return err.stepUp ?? { aal: level, have_aal: have, factors: ages.map(([m]) => m) };
        if (!isSessionEnded(err)) throw err;
        this.reset(true);
        return { aal: level, have_aal: 1, factors: ages.map(([m]) => m) };
      }
    });
  }

  /**
   * Asks sessiond whether the user authenticated (logged in or re-entered
   * their password) at most `maxAgeSeconds` ago (`max_auth_age` on verify).
   * False for anonymous sessions; a session that ended meanwhile is reset.
   */
  async recentlyAuthenticated(maxAgeSeconds: number): Promise<boolean> {
    const token = this.#token;
    if (token === undefined || this.userId === undefined) return false;
    return guard(async () => {
      try {
        const v = await this.#ctx.client.verifySession({ token, max_auth_age: maxAgeSeconds, device: this.device });
        this.load(v.token ?? token, v.session, v.csrf_token, v.token !== undefined && v.token !== token);
        return true;
      } catch (err) {
        if (err instanceof SessiondError && err.code === 'reauth_required') return false;
        if (!isSessionEnded(err)) throw err;
        this.reset(true);
        return false;
      }
    });
  }

  /** Logs out: the session ends in sessiond at once and the cookie is cleared. */
  async destroy(): Promise<void> {
    await guard(async () => {
      if (this.#token !== undefined) await this.#ctx.client.revokeToken(this.#token);
      this.reset(true);
    });
  }

  /** The logged-in user's sessions (devices), oldest first, with `current` marking this one. */
  async devices(): Promise<DeviceSession[]> {
    if (this.userId === undefined) return [];
    return guard(async () => {
      const list = await this.#ctx.client.allUserSessions(this.userId!);
      return list.map((s) => ({ ...s, current: s.id === this.id }));
    });
  }

  /** Ends every other session of the logged-in user ("log out other devices"); returns the ids ended. */
  async logoutOtherDevices(): Promise<string[]> {
    if (this.userId === undefined || this.id === undefined) return [];
    return guard(() => this.#ctx.client.revokeUserSessions(this.userId!, { except: this.id! }));
  }

  /** Ends every session of the logged-in user, this one included, and clears the cookie. */
  async logoutEverywhere(): Promise<string[]> {
    if (this.userId === undefined) return [];
    return guard(async () => {
      const ended = await this.#ctx.client.revokeUserSessions(this.userId!);
      this.reset(true);
      return ended;
    });
  }

  /** The session as plain JSON (no token): handy for templates and logs. */
  toJSON(): object {
    return { id: this.id, userId: this.userId, data: this.data, authTime: this.authTime, amr: this.amr, aal: this.aal, expiresAt: this.expiresAt };
  }

  #createBody(data: Data = this.data) {
    return {
      data,
      device: this.device,
      ...(this.#ctx.idleTimeout ? { idle_timeout: this.#ctx.idleTimeout } : {}),
      ...(this.#ctx.absoluteTimeout ? { absolute_timeout: this.#ctx.absoluteTimeout } : {}),
    };
  }

  #issued(out: SessionIssued): void {
    this.load(out.token, out.session, out.csrf_token, true);
  }
}

/** deviceOf is the request's user agent and IP (Express's req.ip honours `trust proxy`). */
export function deviceOf(req: IncomingMessage & { ip?: string }): DeviceIn {
  const d: DeviceIn = {};
  const ua = req.headers['user-agent'];
  if (ua) d.user_agent = ua.slice(0, 1024);
  const ip = req.ip ?? req.socket?.remoteAddress;
  if (ip) d.ip = ip;
  return d;
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toBrowserError(err);
  }
}

/** copyData is a deep copy of session data (none needed for an empty object, the common case). */
function copyData(d: Data): Data {
  for (const _ in d) return structuredClone(d);
  return {};
}

function isPlainObject(v: unknown): v is Data {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * mergePatch returns the RFC 7396 merge patch that turns `before` into
 * `after`, or undefined when they are equal. Objects are diffed member by
 * member; anything else is replaced whole; removed members become null.
 */
export function mergePatch(before: unknown, after: unknown): unknown {
  if (!isPlainObject(before) || !isPlainObject(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? undefined : after;
  }
  const patch: Data = {};
  for (const k of Object.keys(before)) {
    if (!(k in after) || after[k] === undefined || after[k] === null) {
      if (before[k] !== null) patch[k] = null;
    }
  }
  for (const [k, v] of Object.entries(after)) {
    if (v === undefined || v === null) continue;
    if (!(k in before)) {
      patch[k] = v;
      continue;
    }
    const sub = isPlainObject(before[k]) && isPlainObject(v) ? mergePatch(before[k], v) : JSON.stringify(before[k]) === JSON.stringify(v) ? undefined : v;
    if (sub !== undefined) patch[k] = sub;
  }
  return Object.keys(patch).length === 0 ? undefined : patch;
}
