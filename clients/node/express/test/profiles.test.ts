// Session profiles with @sessiond/client and @sessiond/express against a real
// sessiond: a remember-me login (profile remember_me, a persistent cookie up
// to the session's expires_at), an impersonated session created through the
// client (its actor, in req.session too), revokeImpersonations ending it but
// not the user's own session, and the local cache dropping it — from the
// change stream when another client ended it, at once when this one did.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { codeOf as testkitCodeOf, startSessiond, until, type Sessiond } from '@sessiond/testkit';
import { SessiondClient, SessiondError, isSessionEnded } from '@sessiond/client';
import { sessiond } from '../src/index.js';

const UA = 'profiles-test';
const device = { user_agent: UA, ip: '127.0.0.1' };
let sd: Sessiond;
let key: string;
let plain: SessiondClient;
const servers: Server[] = [];
const clients: SessiondClient[] = [];

before(async () => {
  sd = await startSessiond();
  key = (await sd.newAPIKey('profiles test', ['sessions', 'admin'])).secret;
  plain = new SessiondClient({ url: sd.url, apiKey: key });
  clients.push(plain);
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  for (const c of clients) c.close();
  await sd?.close();
});

const codeOf = (p: Promise<unknown>) => testkitCodeOf(p, SessiondError);

async function startApp(client: SessiondClient) {
  const app = express();
  app.set('env', 'test');
  app.use(express.json());
  app.use(sessiond({ client, csrf: false }));
  app.post('/login', async (req, res) => {
    await req.session.login(req.body.user, { amr: ['pwd'], remember: req.body.remember === true });
    res.json({ profile: req.session.profile, expiresAt: req.session.expiresAt });
  });
  // Reads the dates of the verified session, logs in again (a new
  // auth_time), then logs out, and answers each reading with sessiond's own.
  app.post('/relogin', async (req, res) => {
    const before = { authTime: req.session.authTime, expiresAt: req.session.expiresAt };
    await req.session.login(req.body.user);
    const info = req.session.info!;
    const after = { authTime: req.session.authTime, expiresAt: req.session.expiresAt, expected: { authTime: info.auth_time, expiresAt: info.expires_at } };
    await req.session.destroy();
    res.json({ before, after, loggedOut: { authTime: req.session.authTime ?? null, expiresAt: req.session.expiresAt ?? null } });
  });
  app.get('/me', (req, res) => res.json({ user: req.session.userId ?? null, profile: req.session.profile ?? null, actor: req.session.actor ?? null }));
  app.use((err: any, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.status ?? 500).json({ code: err.code });
  });
  const s: Server = await new Promise((ok) => {
    const srv = app.listen(0, '127.0.0.1', () => ok(srv));
  });
  servers.push(s);
  const a = s.address();
  const base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  return async (method: string, path: string, opts: { sid?: string; body?: unknown } = {}) => {
    const headers: Record<string, string> = { 'User-Agent': UA };
    if (opts.sid) headers.Cookie = `sid=${opts.sid}`;
    if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(base + path, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
    const cookie = r.headers.getSetCookie().find((x) => x.startsWith('sid='));
    return { status: r.status, body: (await r.json()) as any, cookie };
  };
}

describe('session profiles against sessiond', () => {
  it('authTime and expiresAt are sessiond\'s answer, made anew when the session changes', async () => {
    const send = await startApp(plain);
    const login = await send('POST', '/login', { body: { user: 'dates' } });
    const sid = login.cookie!.slice(4, login.cookie!.indexOf(';'));
    await new Promise((ok) => setTimeout(ok, 10)); // the next login's auth_time is later
    const { before, after, loggedOut } = (await send('POST', '/relogin', { sid, body: { user: 'dates' } })).body;
    assert.equal(Date.parse(after.authTime), Date.parse(after.expected.authTime), 'authTime is the new session\'s auth_time');
    assert.equal(Date.parse(after.expiresAt), Date.parse(after.expected.expiresAt), 'expiresAt is the new session\'s expires_at');
    assert.ok(Date.parse(after.authTime) > Date.parse(before.authTime), 'read before the login, then made anew');
    assert.deepEqual(loggedOut, { authTime: null, expiresAt: null }, 'none once logged out');
  });

  it('a remember-me login: 400 without the policy lifetime; then profile remember_me and a cookie lasting until expires_at', async () => {
    const send = await startApp(plain);
    // The client gets invalid_request; through the middleware the app is misconfigured: 500.
    assert.equal(await codeOf(plain.createSession({ user_id: 'alice', remember: true })), 'invalid_request');
    let r = await send('POST', '/login', { body: { user: 'alice', remember: true } });
    assert.equal(r.status, 500);
    const pol = await plain.getPolicy();
    await plain.putPolicy({ ...pol, remember_me: { idle_timeout: 86400, absolute_timeout: 30 * 86400 } });

    r = await send('POST', '/login', { body: { user: 'alice' } });
    assert.equal(r.body.profile, 'standard');
    for (const start of ['create', 'regenerate']) {
      const sid = start === 'regenerate' ? (await plain.createSession({ device })).token : undefined;
      r = await send('POST', '/login', { sid, body: { user: 'alice', remember: true } });
      assert.equal(r.status, 200, start);
      assert.equal(r.body.profile, 'remember_me', start);
      assert.ok(r.cookie, `${start}: a cookie`);
      const expires = /Expires=([^;]+)/.exec(r.cookie!)?.[1];
      assert.ok(expires, `${start}: a persistent cookie: ${r.cookie}`);
      const token = decodeURIComponent(r.cookie!.slice(4, r.cookie!.indexOf(';')));
      const v = await plain.verifySession({ token });
      assert.equal(v.session.profile, 'remember_me');
      assert.ok(Math.abs(Date.parse(expires!) - Date.parse(v.session.expires_at)) <= 1000, `${start}: cookie ${expires}, session ${v.session.expires_at}`);
      assert.ok(Date.parse(v.session.expires_at) - Date.now() > 29 * 86400_000, `${start}: a remember-me session lasts`);
      assert.deepEqual((await send('GET', '/me', { sid: token })).body, { user: 'alice', profile: 'remember_me', actor: null });
    }
  });

  it('impersonation: the actor shows; revokeImpersonations ends it (cached hits stop) and not the user own session', async () => {
    const c = new SessiondClient({ url: sd.url, apiKey: key, cache: true, timeoutMs: 2000 });
    clients.push(c);
    await until('the stream to be ready', () => c.cacheStats()!.ready, 15000);
    const send = await startApp(c);
    const own = await plain.createSession({ user_id: 'bob', device });
    const actor = { type: 'support' as const, id: 'agent-7' };
    const impersonate = async () => {
      const s = await plain.createSession({ user_id: 'bob', actor, device });
      assert.equal(s.session.profile, 'impersonation');
      assert.deepEqual(s.session.actor, actor);
      assert.deepEqual((await send('GET', '/me', { sid: s.token })).body, { user: 'bob', profile: 'impersonation', actor });
      const h = c.cacheStats()!.hits;
      const v = await c.verifySession({ token: s.token, device });
      assert.deepEqual(v.session.actor, actor);
      assert.equal(c.cacheStats()!.hits, h + 1, 'a cached hit');
      return s;
    };
    assert.deepEqual((await send('GET', '/me', { sid: own.token })).body, { user: 'bob', profile: 'standard', actor: null });

    // Another client ends it: the change stream tells c.
    let imp = await impersonate();
    const id = c.cacheStats()!.lastEventId;
    assert.deepEqual(await plain.revokeImpersonations('bob'), [imp.session.id]);
    await until('the change', () => c.cacheStats()!.lastEventId !== id, 15000);
    let h = c.cacheStats()!.hits;
    assert.ok(isSessionEnded(await c.verifySession({ token: imp.token, device }).catch((e) => e)), 'the ended impersonation');
    assert.equal(c.cacheStats()!.hits, h, 'no hit for the ended impersonation');
    assert.equal(await codeOf(c.verifySession({ token: own.token, device })), 'ok');
    assert.equal((await send('GET', '/me', { sid: imp.token })).body.user, null, 'the app sees it ended');

    // c ends one itself: no hit at once.
    imp = await impersonate();
    assert.deepEqual(await c.revokeImpersonations('bob'), [imp.session.id]);
    h = c.cacheStats()!.hits;
    assert.notEqual(await codeOf(c.verifySession({ token: imp.token, device })), 'ok');
    assert.equal(c.cacheStats()!.hits, h);
    assert.equal(await codeOf(plain.verifySession({ token: own.token, device })), 'ok', "the user's own session lives");
    assert.deepEqual(await plain.revokeImpersonations('bob'), []);
  });
});
