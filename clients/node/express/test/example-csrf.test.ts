// examples/express-app's login form against login CSRF: a first visit starts
// an anonymous pre-session so the form carries a real CSRF token, a login
// POST that did not come from that form is refused, and every CSRF failure
// gets a page that says what happened (not "Something went wrong").
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { startSessiond, type Sessiond } from '@sessiond/testkit';

const appPath = join(import.meta.dirname, '..', '..', '..', '..', '..', 'examples', 'express-app', 'app.js');

let sd: Sessiond;
let server: Server;
let base: string;

/** post sends a form as a browser would, with the cookie `sid` if given. */
async function send(method: string, path: string, sid?: string, form?: Record<string, string>) {
  const headers: Record<string, string> = { 'Content-Type': 'application/x-www-form-urlencoded' };
  if (sid !== undefined) headers.Cookie = `sid=${sid}`;
  const res = await fetch(base + path, { method, headers, body: form && new URLSearchParams(form).toString(), redirect: 'manual' });
  const set = res.headers.getSetCookie().find((c) => c.startsWith('sid='));
  const cookie = set && !/Max-Age=0/i.test(set) ? decodeURIComponent(set.slice(4, set.indexOf(';'))) : undefined;
  return { status: res.status, text: await res.text(), cookie };
}

const csrfOf = (html: string) => /name="_csrf" value="([^"]*)"/.exec(html)?.[1];
const userOf = async (token: string) => (await sd.admin('POST', '/v1/sessions/verify', { token })).body.session?.user_id;

before(async () => {
  sd = await startSessiond();
  const key = await sd.newAPIKey('express example app (login CSRF)');
  const { createApp } = await import(pathToFileURL(appPath).href);
  server = await new Promise((ok) => {
    const s: Server = createApp({ url: sd.url, apiKey: key.secret }).listen(0, '127.0.0.1', () => ok(s));
  });
  const a = server.address();
  base = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
});

after(async () => {
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await sd?.close();
});

describe('examples/express-app: the login form is CSRF-protected', () => {
  it('a first visit to /login starts an anonymous pre-session, and the form carries its CSRF token', async () => {
    const r = await send('GET', '/login');
    assert.equal(r.status, 200);
    assert.ok(r.cookie, 'a pre-session cookie is set');
    assert.ok(csrfOf(r.text), 'the _csrf field is not empty');
    assert.equal(await userOf(r.cookie!), undefined, 'nobody is logged in yet');
  });

  it('a login POST without the pre-session (another site posting the form) is refused with a clear page', async () => {
    const r = await send('POST', '/login', undefined, { username: 'bob', password: 'battery-staple' });
    assert.equal(r.status, 403);
    assert.match(r.text, /id="csrf-failed"/);
    assert.match(r.text, /could not be verified as coming from this site/);
    assert.equal(r.cookie, undefined, 'no session was logged in');
  });

  it('a login POST with a missing or forged token is refused and the pre-session stays anonymous', async () => {
    const first = await send('GET', '/login');
    for (const bad of [{}, { _csrf: '' }, { _csrf: 'forged' }] as Array<Record<string, string>>) {
      const r = await send('POST', '/login', first.cookie, { ...bad, username: 'bob', password: 'battery-staple' });
      assert.equal(r.status, 403, JSON.stringify(bad));
      assert.match(r.text, /id="csrf-failed"/);
      assert.doesNotMatch(r.text, /Something went wrong/);
    }
    assert.equal(await userOf(first.cookie!), undefined, 'still anonymous');
    const ok = await send('POST', '/login', first.cookie, { _csrf: csrfOf(first.text)!, username: 'bob', password: 'battery-staple' });
    assert.equal(ok.status, 303, 'the real form logs in');
    assert.equal(await userOf(ok.cookie!), 'bob');
  });
});
