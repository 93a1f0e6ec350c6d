// The shared scenario list (clients/SCENARIOS.md), run against the example
// app (examples/express-app, on @sessiond/express) and a real sessiond, with
// browsers that keep cookies.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startSessiond, eventually, type Sessiond } from '@sessiond/testkit';

const appPath = join(import.meta.dirname, '..', '..', '..', '..', '..', 'examples', 'express-app', 'app.js');

interface Reply {
  status: number;
  text: string;
  headers: Headers;
  /** The session cookie's Set-Cookie line, if the reply had one. */
  setCookie: string | undefined;
}

/** Browser keeps the `sid` cookie like a browser would (no expiry bookkeeping beyond Max-Age=0). */
class Browser {
  sid: string | undefined;
  constructor(
    public base: string,
    public ua = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  ) {}

  async get(path: string): Promise<Reply> {
    return this.send('GET', path);
  }

  async post(path: string, form: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Reply> {
    return this.send('POST', path, new URLSearchParams(form).toString(), { 'Content-Type': 'application/x-www-form-urlencoded', ...headers });
  }

  /** postForm posts with the CSRF token of the page at `from` (as a user filling in a form would). */
  async postForm(from: string, path: string, form: Record<string, string> = {}): Promise<Reply> {
    return this.post(path, { _csrf: csrfOf((await this.get(from)).text), ...form });
  }

  async send(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
    const h: Record<string, string> = { 'User-Agent': this.ua, ...headers };
    if (this.sid !== undefined) h.Cookie = `sid=${this.sid}`;
    const res = await fetch(this.base + path, { method, headers: h, body, redirect: 'manual' });
    const setCookie = res.headers.getSetCookie().find((c) => c.startsWith('sid='));
    if (setCookie) {
      const value = decodeURIComponent(setCookie.slice(4, setCookie.indexOf(';')));
      this.sid = /Max-Age=0/i.test(setCookie) ? undefined : value;
    }
    return { status: res.status, text: await res.text(), headers: res.headers, setCookie };
  }
}

function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]*)"/.exec(html);
  assert.ok(m, `no CSRF field in ${html}`);
  return m[1]!;
}

async function login(b: Browser, user: string, password: string): Promise<Reply> {
  const page = await b.get('/login');
  return b.post('/login', { _csrf: csrfOf(page.text), username: user, password });
}

let sd: Sessiond;
let appKey: { id: string; secret: string };
let base: string;
const servers: Server[] = [];

async function startApp(apiKey: string, reauthMaxAge = 1): Promise<string> {
  const { createApp } = await import(pathToFileURL(appPath).href);
  // SESSIOND_TEST_CACHE=1 runs every scenario with the local session cache on.
  const app = createApp({ url: sd.url, apiKey, reauthMaxAge, cache: process.env.SESSIOND_TEST_CACHE === '1' });
  const s: Server = await new Promise((ok) => {
    const srv = app.listen(0, '127.0.0.1', () => ok(srv));
  });
  servers.push(s);
  const a = s.address();
  return `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
}

/** verifyAsAdmin asks sessiond directly what a token is worth (status and body). */
async function verifyAsAdmin(token: string | undefined) {
  return sd.admin('POST', '/v1/sessions/verify', { token: token ?? '' });
}

before(async () => {
  sd = await startSessiond();
  appKey = await sd.newAPIKey('express example app');
  base = await startApp(appKey.secret);
});

after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await sd?.close();
});

describe('scenarios: examples/express-app on @sessiond/express', () => {
  const alice = () => new Browser(base);
  let a: Browser;

  it('1. anonymous: saving data starts a session with a hardened cookie; junk cookies are just "no session"', async () => {
    a = alice();
    let r = await a.get('/');
    assert.equal(r.status, 200);
    assert.match(r.text, /Hello visitor, view <b id="views">1</);
    assert.ok(r.setCookie, 'cookie set');
    assert.match(r.setCookie!, /; HttpOnly/);
    assert.match(r.setCookie!, /; SameSite=Lax/);
    assert.doesNotMatch(r.setCookie!, /Secure/, 'not Secure outside production');
    assert.match(r.setCookie!, /; Path=\//);
    r = await a.get('/');
    assert.match(r.text, /view <b id="views">2</);
    assert.equal(r.setCookie, undefined, 'the cookie is not re-sent when nothing changed');

    for (const junk of ['', 'junk', 'v1.k_aaaaaaaaaaaaaaaa.ab.x.y', 'x'.repeat(600)]) {
      const j = new Browser(base);
      j.sid = junk;
      r = await j.get('/');
      assert.equal(r.status, 200, `cookie ${JSON.stringify(junk.slice(0, 20))}: ${r.text}`);
      assert.match(r.text, /view <b id="views">1</);
      assert.ok(j.sid && j.sid !== junk, 'a fresh session replaced the junk cookie');
    }
  });

  it('2. login: a wrong password changes nothing; a right one issues a new cookie and kills the old one', async () => {
    const before = a.sid;
    let r = await login(a, 'alice', 'wrong');
    assert.equal(r.status, 401);
    assert.equal(a.sid, before);
    r = await login(a, 'alice', 'correct-horse');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/profile');
    assert.ok(a.sid && a.sid !== before, 'new token on login (no session fixation)');
    assert.equal((await verifyAsAdmin(before)).body.code, 'session_invalid', 'the pre-login token is dead');
    const v = await verifyAsAdmin(a.sid);
    assert.equal(v.body.session.user_id, 'alice');
    assert.ok(v.body.session.auth_time, 'login sets auth_time');
    r = await a.get('/');
    assert.match(r.text, /Hello alice, view <b id="views">3</, 'data moved over on login');

    const planted = new Browser(base);
    planted.sid = before;
    r = await planted.get('/profile');
    assert.equal(r.status, 303, 'the old cookie is logged out');
    assert.match(r.setCookie ?? '', /Max-Age=0/, 'and cleared');
  });

  it('3. profile: the logged-in user sees it; a visitor is sent to the login page', async () => {
    let r = await a.get('/profile');
    assert.equal(r.status, 200);
    assert.match(r.text, /Profile of alice/);
    r = await new Browser(base).get('/profile');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/login');
  });

  it('4. CSRF: the right token saves the form (a merge patch); a wrong or missing one is 403 and changes nothing', async () => {
    const token = csrfOf((await a.get('/profile')).text);
    let r = await a.post('/profile', { _csrf: token, name: 'Alice <Liddell>' });
    assert.equal(r.status, 303);
    r = await a.get('/profile');
    assert.match(r.text, /<p id="name">Alice &#60;Liddell&#62;<\/p>/);

    for (const bad of [{ _csrf: 'forged' }, {}, { _csrf: '' }] as Array<Record<string, string>>) {
      r = await a.post('/profile', { ...bad, name: 'Mallory' });
      assert.equal(r.status, 403, JSON.stringify(bad));
      assert.equal(r.setCookie, undefined, 'the cookie is kept');
    }
    r = await a.post('/profile', { name: 'Alice' }, { 'X-CSRF-Token': token });
    assert.equal(r.status, 303, 'the X-CSRF-Token header works too');
    r = await a.get('/profile');
    assert.match(r.text, /<p id="name">Alice<\/p>/);
    assert.equal((await verifyAsAdmin(a.sid)).body.session.data.name, 'Alice');
  });

  it('5. re-auth: a sensitive action needs a recent password; re-entering it issues a new cookie', async () => {
    await new Promise((r) => setTimeout(r, 1200)); // the app's reauthMaxAge is 1 s here
    let r = await a.postForm('/profile', '/email', { email: 'alice@example.com' });
    assert.equal(r.status, 403);
    assert.match(r.text, /Confirm your password/);
    const before = a.sid;
    r = await a.post('/reauth', { _csrf: csrfOf(r.text), username: 'alice', password: 'wrong' });
    assert.equal(r.status, 401);
    r = await a.postForm('/profile', '/reauth', { username: 'alice', password: 'correct-horse' });
    assert.equal(r.status, 303);
    assert.ok(a.sid && a.sid !== before, 'regenerated on re-auth');
    r = await a.postForm('/profile', '/email', { email: 'alice@example.com' });
    assert.equal(r.status, 303);
    assert.match((await a.get('/profile')).text, /<p id="email">alice@example.com<\/p>/);
  });

  it('5b. two factors: a password login is aal 1; the security page asks for a one-time code; the code makes it aal 2', async () => {
    let r = await a.get('/security');
    assert.equal(r.status, 403);
    assert.match(r.text, /Enter your one-time code/);
    assert.deepEqual((await verifyAsAdmin(a.sid)).body.session.amr.map((f: { method: string }) => f.method), ['pwd'], 'the login recorded pwd');
    const before = a.sid;
    r = await a.post('/step-up', { _csrf: csrfOf(r.text), code: '000000' });
    assert.equal(r.status, 401);
    r = await a.postForm('/profile', '/step-up', { code: '123456' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/security');
    assert.ok(a.sid && a.sid !== before, 'regenerated on step-up');
    r = await a.get('/security');
    assert.equal(r.status, 200);
    assert.match(r.text, /<p id="aal">2<\/p>/);
    assert.match(r.text, /<p id="amr">pwd otp<\/p>|<p id="amr">otp pwd<\/p>/);
  });

  it('6. key rotation: the next request re-sets the cookie with the re-signed token', async () => {
    const old = a.sid;
    const keys = (await sd.admin('GET', '/v1/keys')).body.keys;
    assert.equal((await sd.admin('POST', '/v1/keys/rotate', {})).status, 201);
    let r = await a.get('/profile');
    if (process.env.SESSIOND_TEST_CACHE === '1') {
      // With the cache, the rotation reaches the app over the change stream,
      // within its bound (README, "Clients"): until then a hit answers with
      // the token as it is, still valid; the frame empties the cache.
      const deadline = Date.now() + 2000;
      while (r.status === 200 && r.setCookie === undefined && Date.now() < deadline) {
        await new Promise((ok) => setTimeout(ok, 10));
        r = await a.get('/profile');
      }
    }
    assert.equal(r.status, 200);
    assert.ok(r.setCookie, 'cookie re-set');
    assert.ok(a.sid && a.sid !== old, 'with a new token');
    assert.match(r.setCookie!, /HttpOnly; SameSite=Lax/);
    r = await a.get('/profile');
    assert.equal(r.setCookie, undefined, 'once');
    assert.equal((await sd.admin('POST', `/v1/keys/${keys[0].kid}/retire`)).status, 200);
    assert.equal((await verifyAsAdmin(old)).body.code, 'session_invalid', 'the old token died with its key');
    r = await a.get('/profile');
    assert.equal(r.status, 200, 'the re-set cookie still works');
    assert.match(r.text, /Profile of alice/);
  });

  it('7. three devices: each sees three; "log out other devices" ends exactly the two others', async () => {
    const devices = ['laptop', 'phone', 'tablet'].map((ua) => new Browser(base, `${ua} browser`));
    for (const d of devices) assert.equal((await login(d, 'carol', 'staple-horse')).status, 303);
    const [laptop, phone, tablet] = devices as [Browser, Browser, Browser];
    let r = await tablet.get('/profile');
    assert.equal(r.text.match(/<li class="device/g)?.length, 3);
    assert.equal(r.text.match(/class="device current"/g)?.length, 1);
    r = await tablet.postForm('/profile', '/logout-others');
    assert.equal(r.status, 200);
    assert.match(r.text, /<p id="ended">2<\/p>/);
    for (const d of [laptop, phone]) {
      r = await d.get('/profile');
      assert.equal(r.status, 303, `${d.ua} is logged out`);
      assert.equal(d.sid, undefined, 'and its cookie cleared');
    }
    r = await tablet.get('/profile');
    assert.equal(r.status, 200);
    assert.equal(r.text.match(/<li class="device/g)?.length, 1);
  });

  it('8. logout: the session ends in sessiond and the cookie is cleared', async () => {
    const token = a.sid;
    const r = await a.postForm('/profile', '/logout');
    assert.equal(r.status, 303);
    assert.match(r.setCookie ?? '', /^sid=; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax$/);
    assert.equal((await verifyAsAdmin(token)).body.code, 'session_invalid');
    assert.equal((await a.get('/profile')).status, 303);
    assert.equal((await a.post('/logout')).status, 303, 'logging out again is fine');
  });

  let bob: Browser;
  it('9. revoked API key: the app answers 500 and keeps the cookie; users stay logged in', async () => {
    bob = new Browser(base);
    assert.equal((await login(bob, 'bob', 'battery-staple')).status, 303);
    const token = bob.sid;
    assert.equal((await sd.admin('DELETE', `/v1/api-keys/${appKey.id}`)).status, 204);
    const r = await eventually(async () => {
      const r = await bob.get('/profile');
      assert.equal(r.status, 500);
      return r;
    });
    assert.equal(r.setCookie, undefined, 'the cookie is never cleared for an API-key problem');
    assert.equal(bob.sid, token);
    assert.equal((await bob.post('/login', { _csrf: 'x', username: 'bob', password: 'battery-staple' })).status, 500);
    assert.equal(bob.sid, token);
    assert.equal((await verifyAsAdmin(token)).body.session.user_id, 'bob', 'bob is still logged in');
  });

  it('10. sessiond down: 503 with Retry-After, nobody logged out; back up, the same cookie works', async () => {
    const k = await sd.newAPIKey('express example app, second key');
    bob.base = await startApp(k.secret);
    let r = await bob.get('/profile');
    assert.equal(r.status, 200, 'the new key works with the same cookie');
    const token = bob.sid;
    await sd.stop();
    try {
      r = await bob.get('/profile');
      assert.equal(r.status, 503);
      assert.ok(r.headers.get('retry-after'), 'Retry-After');
      assert.equal(r.setCookie, undefined, 'the cookie is kept');
      r = await bob.post('/logout-others', {}, { 'X-CSRF-Token': 'x' });
      assert.equal(r.status, 503);
      r = await new Browser(bob.base).get('/');
      assert.equal(r.status, 503, 'a new visitor cannot get a session either');
      assert.equal(bob.sid, token);
    } finally {
      await sd.start();
    }
    r = await bob.get('/profile');
    assert.equal(r.status, 200);
    assert.match(r.text, /Profile of bob/);
    assert.equal(bob.sid, token);
    assert.doesNotMatch(sd.logs(), new RegExp(token!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no token in sessiond logs');
  });
});
