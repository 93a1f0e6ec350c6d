// The packed packages as an app installs them: this file is copied into a
// scratch app whose node_modules got the `npm pack` tarballs of
// @sessiond/client and @sessiond/express (run.sh), and talks to a real
// sessiond started by the testkit (SESSIOND_TESTKIT: its built index.js).
import assert from 'node:assert/strict';
import { realpathSync } from 'node:fs';
import { createServer } from 'node:http';
import { after, before, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { SessiondClient, isSessionEnded } from '@sessiond/client';
import { sessiond } from '@sessiond/express';

const here = realpathSync(fileURLToPath(new URL('.', import.meta.url)));
const { startSessiond } = await import(process.env.SESSIOND_TESTKIT);
let srv;
let app;
let appURL;

before(async () => {
  srv = await startSessiond();
  const ex = express();
  ex.use(sessiond({ url: srv.url, apiKey: srv.adminKey, cookie: { secure: false } }));
  ex.get('/visit', async (req, res) => {
    req.session.data.visits = (req.session.data.visits ?? 0) + 1;
    await req.session.save();
    res.json({ visits: req.session.data.visits });
  });
  app = createServer(ex);
  await new Promise((r) => app.listen(0, '127.0.0.1', r));
  appURL = `http://127.0.0.1:${app.address().port}`;
});
after(async () => {
  await new Promise((r) => app?.close(r));
  await srv?.close();
});

it('resolves both packages from the scratch app, not from the source tree', () => {
  for (const name of ['@sessiond/client', '@sessiond/express']) {
    const file = realpathSync(fileURLToPath(import.meta.resolve(name)));
    assert.ok(file.startsWith(`${here}/node_modules/`), `${name} resolves to ${file}`);
  }
});

it('@sessiond/client creates, verifies and revokes a session', async () => {
  const c = new SessiondClient({ url: srv.url, apiKey: srv.adminKey });
  const s = await c.createSession({ user_id: 'smoke' });
  const v = await c.verifySession({ token: s.token });
  assert.equal(v.session.user_id, 'smoke');
  await c.revokeToken(s.token);
  await assert.rejects(c.verifySession({ token: s.token }), (e) => isSessionEnded(e));
});

it('@sessiond/express keeps a session in a cookie', async () => {
  const first = await fetch(`${appURL}/visit`);
  assert.deepEqual(await first.json(), { visits: 1 });
  const cookie = first.headers.get('set-cookie')?.split(';')[0];
  assert.ok(cookie, 'the first visit sets the session cookie');
  const second = await fetch(`${appURL}/visit`, { headers: { cookie } });
  assert.deepEqual(await second.json(), { visits: 2 });
});
