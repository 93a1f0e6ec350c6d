// @sessiond/express without a real sessiond: merge patches, cookies, and how
// each sessiond failure reaches the browser (a fake sessiond answers).
import assert from 'node:assert/strict';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { sessiond, mergePatch, browserStatus, requireRecentAuth } from '../src/index.js';
import { readCookie } from '../src/cookie.js';

describe('mergePatch', () => {
  const cases: Array<[string, unknown, unknown, unknown]> = [
    ['nothing changed', { a: 1, b: { c: [1] } }, { a: 1, b: { c: [1] } }, undefined],
    ['a member added and one changed', { a: 1 }, { a: 2, b: 'x' }, { a: 2, b: 'x' }],
    ['a member removed becomes null', { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ['a member set to null or undefined is removed', { a: 1, b: 2 }, { a: null, b: undefined }, { a: null, b: null }],
    ['nested objects are diffed', { p: { x: 1, y: 2 } }, { p: { x: 1 } }, { p: { y: null } }],
    ['arrays are replaced whole', { l: [1, 2] }, { l: [1] }, { l: [1] }],
    ['an object replacing a scalar is sent whole', { p: 1 }, { p: { x: 1 } }, { p: { x: 1 } }],
  ];
  for (const [name, before, after, want] of cases) {
    it(name, () => assert.deepEqual(mergePatch(before, after), want));
  }
});

describe('readCookie', () => {
  const cases: Array<[string, string | undefined, string | undefined]> = [
    ['no header', undefined, undefined],
    ['the only cookie', 'sid=abc.def', 'abc.def'],
    ['among others, spaces trimmed', 'a=1; sid = abc ;b=2', 'abc'],
    ['a name that only ends with it is another cookie', 'xsid=no; sid=yes', 'yes'],
    ['a name that only starts with it is another cookie', 'sidx=no', undefined],
    ['quoted', 'sid="abc"', 'abc'],
    ['percent-encoded', 'sid=a%2Bb', 'a+b'],
    ['a malformed escape is kept as sent', 'sid=a%zz', 'a%zz'],
    ['a part without =', 'junk; sid=v', 'v'],
    ['the first of two', 'sid=one; sid=two', 'one'],
    ['an empty value', 'sid=', ''],
    ['a trailing ;', 'a=1;', undefined],
  ];
  for (const [name, header, want] of cases) {
    it(name, () => assert.equal(readCookie({ headers: header === undefined ? {} : { cookie: header } } as never, 'sid'), want));
  }
});

describe('browserStatus: never sessiond\'s own 401', () => {
  for (const [code, want] of [
    ['unavailable', 503],
    ['unauthorized', 500],
    ['forbidden', 500],
    ['invalid_request', 500],
    ['rate_limited', 429],
    ['csrf_mismatch', 403],
    ['session_limit_reached', 409],
  ] as const) {
    it(`${code} → ${want}`, () => assert.equal(browserStatus(code), want));
  }
});

describe('the middleware against a failing sessiond', () => {
  let fake: Server;
  let app: Server;
  let appURL: string;
  let reply: (res: ServerResponse) => void = () => {};

  function problem(status: number, code: string, extra: Record<string, string> = {}) {
    return (res: ServerResponse) => {
      res.writeHead(status, { 'Content-Type': 'application/problem+json', ...extra });
      res.end(JSON.stringify({ type: 'x', title: code, status, code, request_id: 'r' }));
    };
  }

  before(async () => {
    fake = createServer((_req, res) => reply(res));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    const fa = fake.address();
    const ex = express();
    ex.set('env', 'test'); // Express's final handler: no stack traces on stderr
    ex.use(sessiond({ url: `http://127.0.0.1:${typeof fa === 'object' && fa ? fa.port : 0}`, apiKey: 'sk_test', cookie: { name: '__Host-sid', secure: true } }));
    ex.get('/', (req, res) => res.json({ user: req.session.userId ?? null, isNew: req.session.isNew }));
    ex.get('/sensitive', requireRecentAuth(60), (_req, res) => res.send('ok'));
    app = await new Promise<Server>((ok) => {
      const s = ex.listen(0, '127.0.0.1', () => ok(s));
    });
    const aa = app.address();
    appURL = `http://127.0.0.1:${typeof aa === 'object' && aa ? aa.port : 0}`;
  });
  after(async () => {
    app.closeAllConnections();
    await new Promise((r) => app.close(r));
    await new Promise((r) => fake.close(r));
  });

  const get = (path = '/') => fetch(appURL + path, { headers: { Cookie: '__Host-sid=v1.tok' } });

  it('503 unavailable → 503 with Retry-After, cookie kept', async () => {
    reply = problem(503, 'unavailable', { 'Retry-After': '9' });
    const r = await get();
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('retry-after'), '9');
    assert.deepEqual(r.headers.getSetCookie(), []);
  });

  it('401 unauthorized (API key revoked) → 500, cookie kept', async () => {
    reply = problem(401, 'unauthorized');
    const r = await get();
    assert.equal(r.status, 500);
    assert.deepEqual(r.headers.getSetCookie(), []);
  });

  it('401 session_invalid → anonymous, cookie cleared with the configured attributes', async () => {
    reply = problem(401, 'session_invalid');
    const r = await get();
    assert.equal(r.status, 200);
    assert.deepEqual(await r.json(), { user: null, isNew: true });
    assert.deepEqual(r.headers.getSetCookie(), ['__Host-sid=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly; SameSite=Lax; Secure']);
  });

  it('a 502 from a proxy → 503', async () => {
    reply = (res) => {
      res.writeHead(502);
      res.end('bad gateway');
    };
    assert.equal((await get()).status, 503);
  });

  it('requireRecentAuth without a session → 403 reauth_required', async () => {
    const r = await fetch(`${appURL}/sensitive`);
    assert.equal(r.status, 403);
  });

  it('a request without a cookie makes no call to sessiond', async () => {
    let calls = 0;
    reply = (res) => {
      calls++;
      problem(503, 'unavailable')(res);
    };
    const r = await fetch(appURL + '/');
    assert.equal(r.status, 200);
    assert.equal(calls, 0);
  });
});
