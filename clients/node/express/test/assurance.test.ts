// Step-up with @sessiond/express against a real sessiond: factors at login,
// requireAal and requireFactor, req.session.stepUp; with and without the
// local session cache. The app's clock (the middleware's `now`) is moved
// forward instead of waiting for a factor to age.
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { startSessiond, type Sessiond } from '@sessiond/testkit';
import { sessiond, requireAal, requireFactor, type AMRMethod } from '../src/index.js';

let sd: Sessiond;
let key: string;
const servers: Server[] = [];

before(async () => {
  sd = await startSessiond();
  key = (await sd.newAPIKey('assurance test')).secret;
});
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  await sd?.close();
});

async function startApp(cache: boolean) {
  let skew = 0;
  const app = express();
  app.set('env', 'test');
  app.use(express.json());
  app.use(sessiond({ url: sd.url, apiKey: key, cache, csrf: false, now: () => Date.now() + skew }));
  app.post('/login', async (req, res) => {
    await req.session.login(req.body.user, { amr: ['pwd'] });
    res.json({ amr: req.session.amr.map((f) => f.method), aal: req.session.aal });
  });
  app.post('/step-up', async (req, res) => {
    await req.session.stepUp(req.body.amr as AMRMethod[]);
    res.json({ amr: req.session.amr.map((f) => f.method).sort(), aal: req.session.aal });
  });
  app.get('/me', (req, res) => res.json({ amr: req.session.amr.map((f) => f.method).sort(), aal: req.session.aal ?? null }));
  app.get('/aal2', requireAal(2), (_req, res) => res.send('aal2'));
  app.get('/otp', requireFactor('otp', 300), (_req, res) => res.send('otp'));
  app.get('/otp-now', requireFactor('otp', 0), (_req, res) => res.send('otp-now'));
  app.get('/custom', requireAal(2, (_req, res, _next, stepUp) => res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ custom: stepUp }))), (_req, res) => res.send('custom'));
  app.use((err: any, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    res.status(err.status ?? 500).json({ code: err.code, stepUp: err.stepUp });
  });
  const s: Server = await new Promise((ok) => {
    const srv = app.listen(0, '127.0.0.1', () => ok(srv));
  });
  servers.push(s);
  const a = s.address();
  const base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  let sid: string | undefined;
  async function send(method: string, path: string, body?: unknown) {
    const headers: Record<string, string> = { 'User-Agent': 'assurance-test' };
    if (sid) headers.Cookie = `sid=${sid}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const c = r.headers.getSetCookie().find((x) => x.startsWith('sid='));
    if (c) sid = /Max-Age=0/i.test(c) ? undefined : decodeURIComponent(c.slice(4, c.indexOf(';')));
    const text = await r.text();
    return { status: r.status, body: text.startsWith('{') ? JSON.parse(text) : text };
  }
  return { send, advance: (ms: number) => (skew += ms), token: () => sid };
}

for (const cache of [false, true]) {
  describe(`step-up guards against sessiond (cache ${cache ? 'on' : 'off'})`, () => {
    it('login with pwd is aal 1; requireAal(2) refuses with step_up_required; stepUp([otp]) → aal 2 with both factors', async () => {
      const app = await startApp(cache);
      let r = await app.send('GET', '/aal2');
      assert.equal(r.status, 403, 'no session');
      assert.equal(r.body.code, 'step_up_required');
      r = await app.send('POST', '/login', { user: 'alice' });
      assert.deepEqual(r.body, { amr: ['pwd'], aal: 1 });
      assert.deepEqual((await app.send('GET', '/me')).body, { amr: ['pwd'], aal: 1 });
      r = await app.send('GET', '/aal2');
      assert.equal(r.status, 403);
      assert.deepEqual(r.body, { code: 'step_up_required', stepUp: { aal: 2, have_aal: 1, factors: [] } });
      r = await app.send('GET', '/custom');
      assert.equal(r.status, 401, 'onRequired answers');
      assert.equal(r.body.custom.have_aal, 1);
      r = await app.send('GET', '/otp');
      assert.equal(r.status, 403);
      assert.deepEqual(r.body.stepUp.factors, ['otp']);

      const before = app.token();
      r = await app.send('POST', '/step-up', { amr: ['otp'] });
      assert.deepEqual(r.body, { amr: ['otp', 'pwd'], aal: 2 });
      assert.notEqual(app.token(), before, 'a step-up regenerates the token');
      assert.equal((await sd.admin('POST', '/v1/sessions/verify', { token: before })).body.code, 'session_invalid');
      assert.deepEqual((await app.send('GET', '/me')).body, { amr: ['otp', 'pwd'], aal: 2 });
      assert.equal((await app.send('GET', '/aal2')).status, 200);
      assert.equal((await app.send('GET', '/custom')).status, 200);
      assert.equal((await app.send('GET', '/otp')).status, 200);
    });

    it('requireFactor(otp, 300) refuses once the otp is older than 300 s (the app clock moved on); a new step-up satisfies it again', async () => {
      const app = await startApp(cache);
      await app.send('POST', '/login', { user: 'bob' });
      await app.send('POST', '/step-up', { amr: ['otp'] });
      assert.equal((await app.send('GET', '/otp')).status, 200);
      app.advance(299_000);
      assert.equal((await app.send('GET', '/otp')).status, 200, '299 s: recent enough');
      app.advance(2_000);
      let r = await app.send('GET', '/otp');
      assert.equal(r.status, 403, '301 s: too old');
      assert.deepEqual(r.body, { code: 'step_up_required', stepUp: { aal: 1, have_aal: 2, factors: ['otp'] } });
      assert.equal((await app.send('GET', '/aal2')).status, 200, 'the level itself does not age');
      app.advance(-301_000);
      // sessiond decides when the app's clock says fine: an age of 0 s is past by sessiond's clock.
      await new Promise((r) => setTimeout(r, 5));
      r = await app.send('GET', '/otp-now');
      assert.equal(r.status, 403, 'sessiond refused');
      assert.deepEqual(r.body.stepUp.factors, ['otp']);
      assert.equal((await app.send('GET', '/otp')).status, 200, 'the session itself is fine');
    });
  });
}
