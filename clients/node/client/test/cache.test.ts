// The local session cache (cache.ts) against a real sessiond and its change
// stream: every way a cached session can become wrong must reach the cache
// before a hit can accept it, and a cache that cannot know serves nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { codeOf as testkitCodeOf, startSessiond, until, type Sessiond } from '@sessiond/testkit';
import { SessiondClient, SessiondError, type SessionIssued } from '../src/index.js';
import { SessionCache, touchEvery } from '../src/cache.js';

const UA = 'Mozilla/5.0 cache-test';
const IP = '203.0.113.9';
const device = { user_agent: UA, ip: IP };

let sd: Sessiond;
let key: string;
let plain: SessiondClient; // no cache: the "other app" that revokes
const clients: SessiondClient[] = [];

function cached(url = sd.url): SessiondClient {
  const c = new SessiondClient({ url, apiKey: key, cache: true, timeoutMs: 1000 });
  clients.push(c);
  return c;
}

/** changeSeen makes a change (a throwaway session revoked) and waits until c has applied it. */
async function changeSeen(c: SessiondClient): Promise<void> {
  const id = c.cacheStats()!.lastEventId;
  const s = await plain.createSession({ user_id: 'throwaway' });
  await plain.revokeSession(s.session.id);
  await until('the change', () => c.cacheStats()!.lastEventId !== id);
}

const ready = (c: SessiondClient) => until('the stream to be ready', () => c.cacheStats()!.ready, 15000);

const codeOf = (p: Promise<unknown>) => testkitCodeOf(p, SessiondError);

/** login makes a logged-in session and caches it in c (a miss, then a hit). */
async function login(c: SessiondClient, user: string): Promise<SessionIssued> {
  const s = await plain.createSession({ user_id: user, device });
  await c.verifySession({ token: s.token, device });
  const h0 = c.cacheStats()!.hits;
  await c.verifySession({ token: s.token, device });
  assert.equal(c.cacheStats()!.hits, h0 + 1, 'the second verify is a hit');
  return s;
}

/** Proxy is a TCP proxy to sessiond that can cut every connection and refuse new ones. */
class Proxy {
  server!: net.Server;
  url = '';
  #open = true;
  #sockets = new Set<net.Socket>();
  constructor(readonly target: URL) {}
  async start(): Promise<void> {
    this.server = net.createServer((down) => {
      if (!this.#open) return down.destroy();
      const up = net.connect(Number(this.target.port), this.target.hostname);
      for (const s of [down, up]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => {});
      }
      down.pipe(up).pipe(down);
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
    });
    await new Promise<void>((ok) => this.server.listen(0, '127.0.0.1', ok));
    const a = this.server.address() as net.AddressInfo;
    this.url = `http://127.0.0.1:${a.port}`;
  }
  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
  }
  /** freeze keeps the connections open but stops forwarding (a half-dead network). */
  freeze(): void {
    for (const s of this.#sockets) s.pause();
  }
  resume(): void {
    this.#open = true;
    for (const s of this.#sockets) s.destroy(); // frozen connections are dead: start over
  }
  close(): void {
    this.cut();
    this.server.close();
  }
}

before(async () => {
  sd = await startSessiond();
  key = (await sd.newAPIKey('cache test', ['sessions', 'admin'])).secret;
  plain = new SessiondClient({ url: sd.url, apiKey: key });
});
after(async () => {
  for (const c of clients) c.close();
  plain?.close();
  await sd?.close();
});

describe('the local session cache against sessiond', () => {
  it('answers a verify from the cache only after the stream is ready, then with no network call', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'hit-user');
    const v = await c.verifySession({ token: s.token, device });
    assert.equal(v.session.id, s.session.id);
    assert.equal(v.csrf_token, s.csrf_token);
    assert.ok(Object.isFrozen(v.session), 'a cached answer is shared: frozen');
    assert.equal(c.cacheStats()!.entries, 1);
  });

  it('a revoke racing a burst of cached hits: nothing is accepted once the revocation is delivered', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'race-user');
    const before = c.cacheStats()!.lastEventId;
    const delivered = () => c.cacheStats()!.lastEventId !== before;
    let stop = false;
    let stale = 0;
    let hitsBefore = 0;
    // 8 request loops, each yielding to the event loop between verifies as requests do.
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop) {
        const after = delivered();
        const code = await codeOf(c.verifySession({ token: s.token, device }));
        if (code === 'ok' && after) stale++;
        if (code === 'ok' && !after) hitsBefore++;
        await new Promise(setImmediate);
      }
    });
    await new Promise((r) => setTimeout(r, 50));
    await plain.revokeSession(s.session.id); // acknowledged: already in the stream
    const t0 = performance.now();
    await until('the revocation to reach the cache', delivered, 5000);
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 50));
    stop = true;
    await Promise.all(loops);
    assert.ok(hitsBefore > 0, 'the burst was served from the cache before the revoke');
    assert.equal(stale, 0, 'no verify that began after delivery was accepted');
    assert.equal(await codeOf(c.verifySession({ token: s.token, device })), 'session_invalid');
    console.log(`# revocation delivered ${ms.toFixed(1)} ms after the acknowledgement`);
  });

  it('two app instances: a logout through one is honoured by the other through the stream', async () => {
    const a = cached();
    const b = cached();
    await Promise.all([ready(a), ready(b)]);
    const s = await login(a, 'two-apps');
    await login(b, 'two-apps-other'); // b has other entries too
    await b.verifySession({ token: s.token, device });
    await b.verifySession({ token: s.token, device });
    const bId = b.cacheStats()!.lastEventId;
    await a.revokeToken(s.token); // a's own entry goes at once
    assert.equal(await codeOf(a.verifySession({ token: s.token, device })), 'session_invalid');
    await until('b to hear of it', () => b.cacheStats()!.lastEventId !== bId);
    assert.equal(await codeOf(b.verifySession({ token: s.token, device })), 'session_invalid');
  });

  it('log out other devices drops every other session of the user, the current one stays cached', async () => {
    const c = cached();
    await ready(c);
    const keep = await login(c, 'devices');
    const other1 = await login(c, 'devices');
    const other2 = await login(c, 'devices');
    const id = c.cacheStats()!.lastEventId;
    await plain.revokeUserSessions('devices', { except: keep.session.id });
    await until('the user event', () => c.cacheStats()!.lastEventId !== id);
    assert.equal(await codeOf(c.verifySession({ token: other1.token, device })), 'session_invalid');
    assert.equal(await codeOf(c.verifySession({ token: other2.token, device })), 'session_invalid');
    const h = c.cacheStats()!.hits;
    assert.equal(await codeOf(c.verifySession({ token: keep.token, device })), 'ok');
    assert.equal(c.cacheStats()!.hits, h + 1, 'the kept session is still a hit');
  });

  it('CSRF on a hit: the right token is a hit, a wrong or empty one goes to sessiond and is refused', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'csrf-user');
    const h = c.cacheStats()!.hits;
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, csrf_token: s.csrf_token })), 'ok');
    assert.equal(c.cacheStats()!.hits, h + 1);
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, csrf_token: s.csrf_token.slice(0, -1) + 'x' })), 'csrf_mismatch');
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, csrf_token: '' })), 'csrf_mismatch');
  });

  it('re-authentication on a hit: max_auth_age is checked from auth_time', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'reauth-user');
    const h = c.cacheStats()!.hits;
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, max_auth_age: 3600 })), 'ok');
    assert.equal(c.cacheStats()!.hits, h + 1, 'a recent enough login is a hit');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, max_auth_age: 0 })), 'reauth_required');
    const anon = await plain.createSession({ device });
    await c.verifySession({ token: anon.token, device });
    assert.equal(await codeOf(c.verifySession({ token: anon.token, device, max_auth_age: 3600 })), 'reauth_required', 'no auth_time: never recent');
  });

  it('policy tightening: an IP binding turned on applies to cached sessions at once', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'binding-user');
    const other = { user_agent: UA, ip: '198.51.100.1' };
    const h = c.cacheStats()!.hits;
    assert.equal(await codeOf(c.verifySession({ token: s.token, device: other })), 'ok', 'binding off: any IP');
    assert.equal(c.cacheStats()!.hits, h + 1);
    const pol = (await plain.getPolicy());
    const id = c.cacheStats()!.lastEventId;
    await plain.putPolicy({ ...pol, binding: { ...pol.binding, ip: 'enforce' } });
    try {
      await until('the policy change', () => c.cacheStats()!.lastEventId !== id);
      assert.equal(await codeOf(c.verifySession({ token: s.token, device: other })), 'binding_mismatch');
      const s2 = await plain.createSession({ user_id: 'binding-user-2', device });
      await c.verifySession({ token: s2.token, device });
      assert.equal(await codeOf(c.verifySession({ token: s2.token, device: other })), 'binding_mismatch', 'a cached entry is bound to its IP');
    } finally {
      await plain.putPolicy(pol);
    }
  });

  it('step-up on a hit: the call\'s min_aal and max_factor_age are met from the cached amr, else sessiond refuses', async () => {
    const c = cached();
    await ready(c);
    const s = await plain.createSession({ user_id: 'aal-user', device, amr: ['pwd'] });
    await c.verifySession({ token: s.token, device });
    let h = c.cacheStats()!.hits;
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, min_aal: 1, max_factor_age: { pwd: 3600 } })), 'ok');
    assert.equal(c.cacheStats()!.hits, h + 1, 'met: a hit');
    const m = c.cacheStats()!.misses;
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, min_aal: 2 })), 'step_up_required');
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, max_factor_age: { otp: 300 } })), 'step_up_required');
    assert.equal(c.cacheStats()!.misses, m + 2, 'not met: sessiond was asked');
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await codeOf(c.verifySession({ token: s.token, device, max_factor_age: { pwd: 0 } })), 'step_up_required', 'too old');

    // The step-up through this client replaces the entry: the old token is dead at once.
    const up = await c.regenerateSession({ token: s.token, reauthenticated: true, amr: ['otp'] });
    assert.equal(await codeOf(c.verifySession({ token: s.token, device })), 'session_invalid');
    assert.equal(await codeOf(c.verifySession({ token: up.token, device, min_aal: 2 })), 'ok');
    h = c.cacheStats()!.hits;
    const v = await c.verifySession({ token: up.token, device, min_aal: 2, max_factor_age: { otp: 300 } });
    assert.equal(c.cacheStats()!.hits, h + 1, 'the stepped-up session is a hit at aal 2');
    assert.equal(v.session.aal, 2);
  });

  it('policy min_aal 2: a cached aal-1 session goes to sessiond and is refused; an aal-2 one stays a hit', async () => {
    const c = cached();
    await ready(c);
    const one = await plain.createSession({ user_id: 'policy-aal-1', device, amr: ['pwd'] });
    const two = await plain.createSession({ user_id: 'policy-aal-2', device, amr: ['pwd', 'otp'] });
    for (const t of [one.token, two.token]) {
      await c.verifySession({ token: t, device });
      const h = c.cacheStats()!.hits;
      await c.verifySession({ token: t, device });
      assert.equal(c.cacheStats()!.hits, h + 1);
    }
    const pol = await plain.getPolicy();
    const id = c.cacheStats()!.lastEventId;
    await plain.putPolicy({ ...pol, min_aal: 2 });
    try {
      await until('the policy change', () => c.cacheStats()!.lastEventId !== id);
      // Entries made after the change too: the hit checks the policy, not only the drop.
      await c.verifySession({ token: two.token, device });
      const { hits, misses } = c.cacheStats()!;
      let err: unknown;
      try {
        c.verifyCached({ token: one.token, device }) ?? (await c.verifySession({ token: one.token, device }));
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof SessiondError && err.code === 'step_up_required', String(err));
      assert.equal(err.stepUp?.aal, 2);
      assert.equal(c.cacheStats()!.misses, misses + 1, 'asked sessiond');
      assert.equal(await codeOf(c.verifySession({ token: two.token, device })), 'ok');
      assert.equal(c.cacheStats()!.hits, hits + 1, 'aal 2 meets the policy: a hit');
    } finally {
      await plain.putPolicy({ ...pol, min_aal: 1 });
    }
  });

  it('key retirement: a token of the retired key is dead even if it was cached', async () => {
    const c = cached();
    await ready(c);
    const s = await login(c, 'key-user');
    const rotated = await plain.rotateKey({ grace_period: 3600 });
    const old = (await plain.listKeys()).find((k) => k.kid !== rotated.kid && k.state === 'retiring');
    assert.ok(old, 'the old key is retiring');
    const id = c.cacheStats()!.lastEventId;
    await plain.retireKey(old.kid);
    await until('the key events', () => c.cacheStats()!.lastEventId !== id);
    assert.equal(await codeOf(c.verifySession({ token: s.token, device })), 'session_invalid');
  });

  it('stream cut: no hit while it is down; revocations made meanwhile are replayed (Last-Event-ID) before hits resume', async () => {
    const proxy = new Proxy(new URL(sd.url));
    await proxy.start();
    try {
      const c = cached(proxy.url);
      await ready(c);
      const gone = await login(c, 'cut-user');
      const kept = await login(c, 'cut-user-2');
      await changeSeen(c); // an id to resume from
      proxy.cut();
      await until('the cache to see the cut', () => !c.cacheStats()!.ready);
      assert.equal(await codeOf(c.verifySession({ token: kept.token, device })), 'unavailable', 'down: every verify goes to sessiond');
      await plain.revokeSession(gone.session.id); // while the stream is cut
      proxy.resume();
      await ready(c);
      assert.equal(await codeOf(c.verifySession({ token: gone.token, device })), 'session_invalid');
      const h = c.cacheStats()!.hits;
      assert.equal(await codeOf(c.verifySession({ token: kept.token, device })), 'ok');
      assert.equal(c.cacheStats()!.hits, h + 1, 'an entry the cut did not concern is a hit again');
      assert.equal(c.cacheStats()!.resets, 0, 'resumed, not reset');
    } finally {
      proxy.close();
    }
  });

  it('a silent stream (half-dead network) stops hits within three heartbeats', async () => {
    const proxy = new Proxy(new URL(sd.url));
    await proxy.start();
    try {
      const c = cached(proxy.url);
      await ready(c);
      const s = await login(c, 'frozen-user');
      proxy.freeze();
      const ms = await until('hits to stop', () => !c.cacheStats()!.ready, 6000);
      assert.ok(ms < 4000, `stopped after ${ms} ms`);
      const { hits, misses } = c.cacheStats()!;
      await codeOf(c.verifySession({ token: s.token, device }));
      assert.equal(c.cacheStats()!.hits, hits, 'no hit');
      assert.equal(c.cacheStats()!.misses, misses + 1, 'sessiond was asked');
    } finally {
      proxy.close();
    }
  });

  it('sessiond restarted and the stream trimmed meanwhile: reset, everything dropped', async () => {
    const proxy = new Proxy(new URL(sd.url));
    await proxy.start();
    try {
      const c = cached(proxy.url);
      await ready(c);
      const s = await login(c, 'restart-user');
      await changeSeen(c);
      proxy.cut();
      await sd.stop();
      await sd.start();
      await plain.revokeSession(s.session.id);
      // The stream lost everything the cache had not seen (as after a trim).
      execFileSync('redis-cli', ['-u', sd.redisURL, 'XTRIM', `${sd.redisPrefix}:changes:{${sd.tenantId}}`, 'MAXLEN', '0']);
      await plain.revokeSession((await plain.createSession({ user_id: 'noise-3' })).session.id);
      const resets = c.cacheStats()!.resets;
      proxy.resume();
      await ready(c);
      assert.equal(c.cacheStats()!.resets, resets + 1, 'sessiond said reset');
      assert.equal(c.cacheStats()!.entries, 0, 'the whole cache was dropped');
      assert.equal(await codeOf(c.verifySession({ token: s.token, device })), 'session_invalid');
    } finally {
      proxy.close();
    }
  });
});

describe('touchEvery: how often a cached session in use slides sessiond\'s idle deadline', () => {
  const cases: Array<[string, number | undefined, number]> = [
    ['idle timeout unknown: the stream\'s interval', undefined, 5000],
    ['30 minutes (the default): a sixtieth, 30 s', 1800, 30_000],
    ['a day (remember-me): at most a minute', 86_400, 60_000],
    ['5 minutes: the stream\'s interval, longer than a sixtieth', 300, 5000],
    ['20 s: a tenth, sessiond\'s own interval for recording a use', 20, 2000],
  ];
  for (const [name, idle, want] of cases) it(name, () => assert.equal(touchEvery(5000, idle), want));
});

describe('the race rule (a fake stream and a verify answered on demand)', () => {
  let fake: Server;
  let url: URL;
  let stream: import('node:http').ServerResponse | undefined;
  before(async () => {
    fake = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(`event: ready\ndata: ${JSON.stringify({ policy: { rolling: true, binding: { user_agent: 'off', ip: 'off' } }, heartbeat_ms: 60000, touch_interval_ms: 60000 })}\n\n`);
      stream = res;
    });
    await new Promise<void>((ok) => fake.listen(0, '127.0.0.1', ok));
    url = new URL(`http://127.0.0.1:${(fake.address() as net.AddressInfo).port}`);
  });
  after(() => {
    fake.closeAllConnections();
    fake.close();
  });

  it('a hit honours the policy\'s min_aal from the stream: an aal-1 entry is never served under min_aal 2', async () => {
    const session = { id: 'sab_2', user_id: 'u', created_at: '', last_seen_at: '', expires_at: '2999-01-01T00:00:00Z', idle_expires_at: '2999-01-01T00:00:00Z', device: {}, data: {}, version: 1, amr: [{ method: 'pwd', at: new Date().toISOString() }], aal: 1 };
    let calls = 0;
    const cache = new SessionCache({ url, apiKey: 'k', userAgent: 't', verify: async () => (calls++, { session: session as never, csrf_token: 'c' }) });
    try {
      await until('ready', () => cache.stats().ready);
      await cache.verify({ token: 't2' });
      await cache.verify({ token: 't2' });
      assert.equal(calls, 1, 'a hit under min_aal 1 (the default)');
      assert.equal(cache.hit({ token: 't2', min_aal: 2 }), undefined, 'the call\'s min_aal 2: no hit');
      assert.equal(cache.hit({ token: 't2', max_factor_age: { otp: 300 } }), undefined, 'a factor it lacks: no hit');
      assert.equal(cache.hit({ token: 't2', max_factor_age: { pwd: 'x' as never } }), undefined, 'an age sessiond would refuse: no hit');
      assert.ok(cache.hit({ token: 't2', max_factor_age: { pwd: 3600 } }), 'a recent pwd: a hit');
      stream!.write(`id: 2-0\nevent: tenant\ndata: ${JSON.stringify({ policy: { rolling: true, binding: { user_agent: 'off', ip: 'off' }, min_aal: 2 } })}\n\n`);
      await until('the policy', () => cache.stats().lastEventId === '2-0');
      await cache.verify({ token: 't2' }); // the (fake) sessiond still answers aal 1
      assert.equal(calls, 2);
      assert.equal(cache.hit({ token: 't2' }), undefined, 'policy min_aal 2: an aal-1 entry is no hit');
      await cache.verify({ token: 't2' });
      assert.equal(calls, 3, 'every verify goes to sessiond');
    } finally {
      cache.close();
    }
  });

  /** sessionOf is a fake sessiond's session for a token (its id derived from it). */
  const sessionOf = (token: string) => ({ id: `sab_${token}`, user_id: 'u', created_at: '', last_seen_at: '', expires_at: '2999-01-01T00:00:00Z', idle_expires_at: '2999-01-01T00:00:00Z', device: {}, data: {}, version: 1 });

  it('bounded: at maxEntries the entry not read since the eviction last passed it goes first; the one just kept stays', async () => {
    const cache = new SessionCache(
      { url, apiKey: 'k', userAgent: 't', verify: async (req) => ({ session: sessionOf(req.token) as never, csrf_token: 'c' }) },
      { maxEntries: 3 },
    );
    try {
      await until('ready', () => cache.stats().ready);
      for (const t of ['t1', 't2', 't3']) await cache.verify({ token: t });
      assert.ok(cache.hit({ token: 't1' }), 't1 read');
      await cache.verify({ token: 't4' });
      assert.equal(cache.stats().entries, 3);
      assert.equal(cache.hit({ token: 't2' }), undefined, 't2, the oldest not read, went first');
      for (const t of ['t1', 't3', 't4']) assert.ok(cache.hit({ token: t }), `${t} stays`);
      await cache.verify({ token: 't5' }); // every entry was read: a full turn, then the oldest goes
      assert.equal(cache.stats().entries, 3);
      assert.ok(cache.hit({ token: 't5' }), 'the entry just kept is never the one to go');
    } finally {
      cache.close();
    }
  });

  it('maxEntries 0 keeps nothing: every verify goes to sessiond', async () => {
    let calls = 0;
    const cache = new SessionCache(
      { url, apiKey: 'k', userAgent: 't', verify: async (req) => (calls++, { session: sessionOf(req.token) as never, csrf_token: 'c' }) },
      { maxEntries: 0 },
    );
    try {
      await until('ready', () => cache.stats().ready);
      await cache.verify({ token: 'z1' });
      await cache.verify({ token: 'z1' });
      assert.equal(calls, 2);
      assert.equal(cache.stats().entries, 0);
    } finally {
      cache.close();
    }
  });

  it('the device is read only when the policy\'s binding compares it', async () => {
    const cache = new SessionCache({ url, apiKey: 'k', userAgent: 't', verify: async (req) => ({ session: sessionOf(req.token) as never, csrf_token: 'c' }) });
    try {
      await until('ready', () => cache.stats().ready);
      await cache.verify({ token: 'b1', device });
      let reads = 0;
      assert.ok(cache.hit({ token: 'b1' }, () => (reads++, device)), 'binding off: a hit');
      assert.equal(reads, 0, 'binding off: the device is not read');
      const id = cache.stats().lastEventId;
      stream!.write(`id: 3-0\nevent: tenant\ndata: ${JSON.stringify({ policy: { rolling: true, binding: { user_agent: 'off', ip: 'enforce' } } })}\n\n`);
      await until('the policy', () => cache.stats().lastEventId !== id);
      await cache.verify({ token: 'b1', device });
      assert.ok(cache.hit({ token: 'b1' }, () => (reads++, device)), 'the same IP: a hit');
      assert.equal(reads, 1, 'IP binding: the device is read');
      assert.equal(cache.hit({ token: 'b1' }, () => ({ ...device, ip: '198.51.100.1' })), undefined, 'another IP: no hit');
      assert.equal(cache.hit({ token: 'b1' }), undefined, 'no device at all: no hit');
      assert.ok(cache.hit({ token: 'b1', device }, () => assert.fail('req.device is used first')), 'a device in the request');
    } finally {
      stream!.write(`id: 3-1\nevent: tenant\ndata: ${JSON.stringify({ policy: { rolling: true, binding: { user_agent: 'off', ip: 'off' } } })}\n\n`);
      cache.close();
    }
  });

  it('a verify that began before a drop of its session does not insert its answer', async () => {
    let answer!: () => void;
    const session = { id: 'sab_1', user_id: 'u', created_at: '', last_seen_at: '', expires_at: '2999-01-01T00:00:00Z', idle_expires_at: '2999-01-01T00:00:00Z', device: {}, data: {}, version: 1 };
    let calls = 0;
    const cache = new SessionCache({
      url, apiKey: 'k', userAgent: 't',
      verify: () => {
        calls++;
        return new Promise((ok) => (answer = () => ok({ session: session as never, csrf_token: 'c' })));
      },
    });
    try {
      await until('ready', () => cache.stats().ready);
      const pending = cache.verify({ token: 't1' }); // sessiond answered before the revoke...
      stream!.write(`id: 1-0\nevent: sessions\ndata: {"ids":["sab_1"],"reason":"revoked"}\n\n`);
      await until('the drop', () => cache.stats().lastEventId === '1-0');
      answer(); // ...but the answer arrives after the drop
      await pending;
      assert.equal(cache.stats().entries, 0, 'the pre-revocation answer was not kept');
      const again = cache.verify({ token: 't1' });
      answer();
      await again;
      assert.equal(calls, 2, 'the next verify went to sessiond');
      assert.equal(cache.stats().entries, 1, 'an answer with no drop in flight is kept');
    } finally {
      cache.close();
    }
  });
});
