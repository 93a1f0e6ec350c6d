/**
 * The local verified-session cache (opt-in: `new SessiondClient({ ..., cache: true })`).
 *
 * A verify that sessiond accepted is kept, keyed by SHA-256 of the token
 * (never the token), and answers later verifies of the same token without a
 * network call, after applying locally what sessiond would: the absolute and
 * idle deadlines, `max_auth_age`, the CSRF token (SHA-256, constant-time
 * compare), the device binding the tenant's policy asks for, and the step-up
 * requirements: the policy's `min_aal` (from the change stream) and the call's
 * `min_aal` and `max_factor_age`, from the session's `aal` and `amr`. Anything the
 * cache cannot decide goes to sessiond, whose answer refreshes or deletes the
 * entry.
 *
 * It is kept exact by sessiond's change stream (GET /v1/changes, server-sent
 * events): every revocation, eviction, regeneration, data change, key
 * retirement, policy change or tenant/API-key suspension arrives there
 * before sessiond acknowledges it, and drops the entries it concerns.
 *
 * Fail closed: hits are served only while the stream is connected, caught up
 * (its `ready` frame arrived) and alive (something heard within three
 * heartbeats). Otherwise every verify goes to sessiond at once while the
 * stream reconnects with Last-Event-ID; a `reset` (sessiond cannot resume
 * from that id) or a reconnect with no id to resume from drops everything.
 *
 * Race rule: a network verify that began before any drop must not insert its
 * (possibly pre-revocation) answer: every drop, and every change of the
 * stream's state, bumps a generation counter, and an answer is kept only if
 * the counter did not move while it was in flight.
 *
 * Idle sliding: a hit does not reach sessiond, so at most once per session
 * per touch interval (touchEvery: the stream's `touch_interval_ms`, 5 s, or
 * a sixtieth of the session's idle timeout when longer, at most a minute)
 * a hit sends a verify in the background; its answer refreshes the entry's
 * deadlines, its failure deletes the entry. sessiond's idle deadline may so
 * lag the last real use by at most that interval.
 */
import crypto, { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { DeviceIn, Factor, Policy, SessionVerified, SessionVerify } from './openapi.js';

/** Options of the local cache (`cache: true` takes every default). */
export interface CacheOptions {
  /** Most sessions kept (default 10,000); the least recently used go first (second chance: an entry used since it was last passed over is kept). */
  maxEntries?: number;
  /** Most bytes kept, counted as the JSON size of each session (default 16 MiB). */
  maxBytes?: number;
  /** The clock, in ms since the epoch (tests). */
  now?: () => number;
}

/** What the cache needs from its client. */
export interface CacheHost {
  url: URL;
  apiKey: string;
  userAgent: string;
  /** A network verify, bypassing the cache. */
  verify(req: SessionVerify): Promise<SessionVerified>;
}

/** A verify sessiond accepted, as kept. */
interface Entry {
  key: string;
  answer: SessionVerified;
  sessionId: string;
  userId: string | undefined;
  /** Deadlines and auth time, in ms since the epoch. */
  expiresAt: number;
  idleExpiresAt: number;
  authTime: number | undefined;
  /** The session's assurance level, and when each of its methods was proved (ms since the epoch). */
  aal: number;
  factors: Map<string, number>;
  /** The device of the verify that was accepted. */
  userAgent: string | undefined;
  ip: string | undefined;
  /** SHA-256 of the session's CSRF token. */
  csrfHash: Buffer;
  /** When a touch (a background verify) was last sent, and the least time between two (touchEvery). */
  touchedAt: number;
  touchMs: number;
  bytes: number;
  /** Hit since the eviction last passed it over (second chance: a hit costs one store, not a move). */
  used: boolean;
}

/** The stream's state, as the cache counts it. */
export interface CacheStats {
  /** Hits may be served (stream connected, caught up, alive). */
  ready: boolean;
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  /** How many times the stream (re)connected, and how many resets or unresumable reconnects dropped everything. */
  connects: number;
  resets: number;
  /** The last change id applied. */
  lastEventId: string | undefined;
}

const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_TOUCH_MS = 5000;
const MAX_BACKOFF_MS = 5000;

/** The one-shot crypto.hash (Node 20.12+): a third of createHash's cost per token; createHash before. */
const oneShotHash: ((alg: string, data: string, enc: 'hex') => string) | undefined = (crypto as { hash?: typeof crypto.hash }).hash;

/** tokenKey is a token's cache key: SHA-256, hex. */
export function tokenKey(token: string): string {
  return oneShotHash !== undefined ? oneShotHash('sha256', token, 'hex') : createHash('sha256').update(token).digest('hex');
}

export class SessionCache {
  readonly #host: CacheHost;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #now: () => number;

  readonly #entries = new Map<string, Entry>();
  readonly #bySession = new Map<string, Entry>();
  readonly #byUser = new Map<string, Set<Entry>>();
  #bytes = 0;
  /** Bumped on every drop and every change of the stream's state (the race rule). */
  #generation = 0;

  #ready = false;
  #lastHeard = 0;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  #touchMs = DEFAULT_TOUCH_MS;
  #policy: Policy | undefined;
  #lastEventId: string | undefined;
  #req: http.ClientRequest | undefined;
  #closed = false;
  #backoffMs = 100;
  #retryTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #stats = { hits: 0, misses: 0, connects: 0, resets: 0 };

  constructor(host: CacheHost, o: CacheOptions = {}) {
    this.#host = host;
    this.#maxEntries = o.maxEntries ?? 10_000;
    this.#maxBytes = o.maxBytes ?? 16 << 20;
    this.#now = o.now ?? Date.now;
    this.#connect();
  }

  /** stats reports the cache's state and counters. */
  stats(): CacheStats {
    return { ready: this.#live(), entries: this.#entries.size, bytes: this.#bytes, ...this.#stats, lastEventId: this.#lastEventId };
  }

  /** close stops the stream; the cache serves no more hits. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    clearInterval(this.#watchdog);
    this.#req?.destroy();
    this.#down();
    this.#clear();
  }

  // --- verify ---------------------------------------------------------------

  /**
   * hit answers req from the cache alone, synchronously, when it may (every
   * rule of verify applied), or returns undefined: then call verify. No
   * promise, no network: the hot path of a request.
   */
  hit(req: SessionVerify, device?: () => DeviceIn): SessionVerified | undefined {
    return this.#hit(tokenKey(req.token), req, device);
  }

  #hit(key: string, req: SessionVerify, device?: () => DeviceIn): SessionVerified | undefined {
    const e = this.#entries.get(key);
    if (e === undefined || !this.#live()) return undefined;
    const now = this.#now();
    if (!this.#allows(e, req, now, device)) return undefined;
    this.#stats.hits++;
    e.used = true;
    if (now - e.touchedAt >= e.touchMs && this.#policy?.rolling !== false) this.#touch(e, req.token, now);
    return e.answer;
  }

  /** verify answers from the cache when it may, else from sessiond (keeping a fresh answer). */
  async verify(req: SessionVerify): Promise<SessionVerified> {
    const key = tokenKey(req.token);
    const answer = this.#hit(key, req);
    if (answer !== undefined) return answer;
    this.#stats.misses++;
    const gen = this.#generation;
    try {
      const v = await this.#host.verify(req);
      this.#keep(key, req, v, gen);
      return v;
    } catch (err) {
      // A refused verify (session ended, CSRF, re-auth, binding): the entry,
      // if any, no longer answers for this token.
      if ((err as { httpStatus?: number }).httpStatus !== 0) this.#delete(this.#entries.get(key));
      throw err;
    }
  }

  /**
   * #allows reports whether entry e answers req at now exactly as sessiond
   * would. The device is read (from req, else from device(), kept in req)
   * only if the tenant's binding compares it.
   */
  #allows(e: Entry, req: SessionVerify, now: number, device?: () => DeviceIn): boolean {
    if (now >= e.expiresAt || now >= e.idleExpiresAt) return false;
    if (req.max_auth_age !== undefined) {
      if (e.authTime === undefined || now - e.authTime > req.max_auth_age * 1000) return false;
    }
    // Step-up: a session short of a level or a factor goes to sessiond, which
    // answers step_up_required naming what is missing.
    const minAal = req.min_aal;
    if (minAal !== undefined && minAal !== 1 && minAal !== 2) return false; // sessiond's 400
    if (e.aal < Math.max(this.#policy?.min_aal ?? 1, minAal ?? 1)) return false;
    const ages = req.max_factor_age;
    if (ages !== undefined) {
      let n = 0;
      for (const m in ages) {
        const age = ages[m];
        if (++n > 8 || typeof age !== 'number' || !Number.isInteger(age) || age < 0) return false; // sessiond's 400
        const at = e.factors.get(m);
        if (at === undefined || now - at > age * 1000) return false;
      }
    }
    if (req.csrf_token !== undefined) {
      const h = createHash('sha256').update(req.csrf_token).digest();
      if (!timingSafeEqual(h, e.csrfHash)) return false;
    }
    const b = this.#policy?.binding;
    if (b === undefined) return false;
    if (b.user_agent === 'off' && b.ip === 'off') return true;
    const d = req.device ?? (req.device = device?.());
    if (b.user_agent !== 'off' && d?.user_agent !== e.userAgent) return false;
    if (b.ip !== 'off' && d?.ip !== e.ip) return false;
    return true;
  }

  /** #keep stores sessiond's answer v to req, unless the race rule or its content forbids. */
  #keep(key: string, req: SessionVerify, v: SessionVerified, gen: number): void {
    if (gen !== this.#generation || !this.#live()) return;
    // A re-signed token (the cookie is replaced) or a reported binding
    // mismatch (sessiond records each one) must reach sessiond every time.
    if (v.token !== undefined || (v.binding_mismatch?.length ?? 0) > 0) return;
    const s = v.session;
    const bytes = JSON.stringify(s).length + 256;
    if (bytes > this.#maxBytes || this.#maxEntries < 1) return;
    this.#delete(this.#entries.get(key));
    this.#delete(this.#bySession.get(s.id));
    const e: Entry = {
      key,
      answer: deepFreeze({ session: s, csrf_token: v.csrf_token }),
      sessionId: s.id,
      userId: s.user_id,
      expiresAt: Date.parse(s.expires_at),
      idleExpiresAt: Date.parse(s.idle_expires_at),
      authTime: s.auth_time ? Date.parse(s.auth_time) : undefined,
      aal: typeof s.aal === 'number' ? s.aal : 1,
      factors: factorTimes(s.amr),
      userAgent: req.device?.user_agent,
      ip: req.device?.ip,
      csrfHash: createHash('sha256').update(v.csrf_token).digest(),
      touchedAt: this.#now(),
      touchMs: touchEvery(this.#touchMs, s.idle_timeout),
      bytes,
      used: false,
    };
    this.#entries.set(key, e);
    this.#bySession.set(e.sessionId, e);
    if (e.userId !== undefined) {
      let set = this.#byUser.get(e.userId);
      if (set === undefined) this.#byUser.set(e.userId, (set = new Set()));
      set.add(e);
    }
    this.#bytes += bytes;
    // Evict in insertion order, giving each entry hit since it was last
    // passed over (and the one just kept) a second chance at the end of the
    // line: an approximation of least recently used that costs a hit nothing
    // but a flag.
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const oldest = this.#entries.values().next().value as Entry;
      if (oldest.used || oldest === e) {
        oldest.used = false;
        this.#entries.delete(oldest.key);
        this.#entries.set(oldest.key, oldest);
        continue;
      }
      this.#delete(oldest);
    }
  }

  /** #touch slides the session's idle deadline in sessiond, in the background. */
  #touch(e: Entry, token: string, now: number): void {
    e.touchedAt = now;
    const device: DeviceIn = {};
    if (e.userAgent !== undefined) device.user_agent = e.userAgent;
    if (e.ip !== undefined) device.ip = e.ip;
    const gen = this.#generation;
    this.#host.verify({ token, device }).then(
      (v) => {
        if (this.#entries.get(e.key) !== e) return;
        if (gen !== this.#generation) return; // a drop meanwhile: the next miss refreshes
        e.idleExpiresAt = Date.parse(v.session.idle_expires_at);
        e.expiresAt = Date.parse(v.session.expires_at);
      },
      (err: unknown) => {
        // sessiond down: keep the entry (hits stop anyway if the stream drops); refused: delete it.
        if ((err as { httpStatus?: number }).httpStatus !== 0) this.#delete(e);
        else e.touchedAt = 0;
      },
    );
  }

  // --- drops ----------------------------------------------------------------

  /** forgetToken drops the entry of a token (its holder revoked or regenerated it through this client). */
  forgetToken(token: string): void {
    this.#generation++;
    this.#delete(this.#entries.get(tokenKey(token)));
  }

  /** forgetSessions drops the entries of these session ids. */
  forgetSessions(ids: readonly string[]): void {
    this.#generation++;
    for (const id of ids) this.#delete(this.#bySession.get(id));
  }

  /** forgetUser drops every entry of a user but the session `except`. */
  forgetUser(userId: string, except?: string | null): void {
    this.#generation++;
    const set = this.#byUser.get(userId);
    if (set === undefined) return;
    for (const e of [...set]) if (e.sessionId !== except) this.#delete(e);
  }

  /** forgetActing drops a user's impersonated sessions (those with an actor). */
  forgetActing(userId: string): void {
    this.#generation++;
    const set = this.#byUser.get(userId);
    if (set === undefined) return;
    for (const e of [...set]) if (e.answer.session.actor !== undefined) this.#delete(e);
  }

  #delete(e: Entry | undefined): void {
    if (e === undefined || this.#entries.get(e.key) !== e) return;
    this.#entries.delete(e.key);
    if (this.#bySession.get(e.sessionId) === e) this.#bySession.delete(e.sessionId);
    if (e.userId !== undefined) {
      const set = this.#byUser.get(e.userId);
      set?.delete(e);
      if (set?.size === 0) this.#byUser.delete(e.userId);
    }
    this.#bytes -= e.bytes;
  }

  #clear(): void {
    this.#generation++;
    this.#entries.clear();
    this.#bySession.clear();
    this.#byUser.clear();
    this.#bytes = 0;
  }

  // --- the change stream ------------------------------------------------------

  /** #live reports whether hits may be served: connected, caught up, heard from within three heartbeats. */
  #live(): boolean {
    return this.#ready && this.#now() - this.#lastHeard < 3 * this.#heartbeatMs;
  }

  #down(): void {
    if (this.#ready) this.#generation++;
    this.#ready = false;
  }

  #connect(): void {
    if (this.#closed) return;
    const u = this.#host.url;
    const tls = u.protocol === 'https:';
    const headers: http.OutgoingHttpHeaders = {
      Authorization: `Bearer ${this.#host.apiKey}`,
      Accept: 'text/event-stream',
      'User-Agent': this.#host.userAgent,
    };
    const resuming = this.#lastEventId !== undefined;
    if (resuming) headers['Last-Event-ID'] = this.#lastEventId;
    else if (this.#stats.connects > 0) {
      // Nothing to resume from: whatever happened while down is unknown.
      this.#stats.resets++;
      this.#clear();
    }
    const req = (tls ? https : http).request({
      host: u.hostname.replace(/^\[|\]$/g, ''),
      port: Number(u.port) || (tls ? 443 : 80),
      path: u.pathname.replace(/\/+$/, '') + '/v1/changes',
      method: 'GET',
      headers,
      agent: false,
    });
    this.#req = req;
    this.#lastHeard = this.#now();
    req.on('socket', (s) => s.unref());
    req.on('error', () => this.#retry(req));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        this.#retry(req);
        return;
      }
      this.#stats.connects++;
      this.#lastHeard = this.#now();
      res.setEncoding('utf8');
      let buf = '';
      let event = '';
      let data = '';
      let id: string | undefined;
      res.on('data', (chunk: string) => {
        if (this.#req !== req) return;
        this.#lastHeard = this.#now();
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          let line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (line === '') {
            if (event !== '' || data !== '') this.#frame(event || 'message', data, id);
            event = data = '';
            id = undefined;
            continue;
          }
          if (line.startsWith(':')) continue; // ping
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? '' : line.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'event') event = value;
          else if (field === 'data') data = data === '' ? value : `${data}\n${value}`;
          else if (field === 'id') id = value;
        }
      });
      res.on('error', () => this.#retry(req));
      res.on('end', () => this.#retry(req));
      res.on('close', () => this.#retry(req));
    });
    req.end();
    if (this.#watchdog === undefined) {
      // Checks the stream's pulse; #live() already refuses hits on a silent
      // stream, this makes it reconnect.
      this.#watchdog = setInterval(() => {
        const r = this.#req;
        const silentMs = this.#now() - this.#lastHeard;
        if (r !== undefined && silentMs >= (this.#ready ? 3 : 10) * this.#heartbeatMs) r.destroy();
      }, DEFAULT_HEARTBEAT_MS);
      this.#watchdog.unref();
    }
  }

  /** #retry reconnects after a backoff, once per failed request. */
  #retry(req: http.ClientRequest): void {
    if (this.#req !== req) return;
    this.#req = undefined;
    req.destroy();
    this.#down();
    if (this.#closed) return;
    const wait = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, MAX_BACKOFF_MS);
    this.#retryTimer = setTimeout(() => this.#connect(), wait);
    this.#retryTimer.unref();
  }

  /** #frame applies one server-sent event. */
  #frame(event: string, data: string, id: string | undefined): void {
    let d: any;
    try {
      d = data === '' ? {} : JSON.parse(data);
    } catch {
      // A frame we cannot read may have been a drop: start over.
      this.#req?.destroy();
      return;
    }
    switch (event) {
      case 'reset':
        this.#stats.resets++;
        this.#clear();
        break;
      case 'sessions':
        this.forgetSessions(Array.isArray(d.ids) ? d.ids : []);
        break;
      case 'user':
        if (typeof d.user_id === 'string') this.forgetUser(d.user_id, d.except);
        break;
      case 'tenant':
        this.#clear();
        if (d.policy) this.#policy = d.policy;
        break;
      case 'ready':
        if (d.policy) this.#policy = d.policy;
        this.#heartbeatMs = positive(d.heartbeat_ms) ?? DEFAULT_HEARTBEAT_MS;
        this.#touchMs = positive(d.touch_interval_ms) ?? DEFAULT_TOUCH_MS;
        this.#backoffMs = 100;
        this.#ready = true;
        break;
      default:
        // Unknown change kinds are drops we do not understand: drop everything.
        this.#clear();
    }
    if (id !== undefined && id !== '') this.#lastEventId = id;
  }
}

/** factorTimes maps each method of a session's amr to when it was proved (ms); an unreadable time leaves the method out (a miss). */
function factorTimes(amr: readonly Factor[] | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of amr ?? []) {
    const at = Date.parse(f.at);
    if (Number.isFinite(at)) out.set(f.method, at);
  }
  return out;
}

/**
 * touchEvery is the least time between two touches of a session whose idle
 * timeout is idleSeconds: the stream's touch_interval_ms, or a sixtieth of the
 * idle timeout when that is longer (at most a minute: 30 s for the default
 * 30 minutes), but never more than a tenth of it (sessiond's own interval for
 * recording a use). So sessiond's idle deadline lags a session's last use by
 * at most that: 1.7 % of its idle timeout, or the stream's interval.
 */
export function touchEvery(streamMs: number, idleSeconds: number | undefined): number {
  if (typeof idleSeconds !== 'number' || !(idleSeconds > 0)) return streamMs;
  const idleMs = idleSeconds * 1000;
  return Math.min(Math.max(streamMs, Math.min(idleMs / 60, 60_000)), idleMs / 10);
}

function positive(v: unknown): number | undefined {
  return typeof v === 'number' && v > 0 ? v : undefined;
}

function deepFreeze<T>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
