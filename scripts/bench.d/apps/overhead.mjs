// scripts/bench.d/apps/overhead.mjs — what @sessiond/client costs per verify,
// beside a hand-written node:http keep-alive call of the same endpoint.
//
//   SESSIOND_URL=http://127.0.0.1:8080 SESSIOND_API_KEY=sk_... \
//     node overhead.mjs [--client DIR] [--seconds 5] [--concurrency 16] [--rounds 2]
//
// DIR is a built @sessiond/client (default ../../../clients/node/client).
// Each variant runs `concurrency` verify loops for `seconds` in this process;
// it prints calls/s and this process's CPU µs per call (user+system), the
// figure the SDK's transport changes. Hand-written calls over node:http and
// over undici's Pool show the floor; the last row is the same client through
// the global fetch (its `fetch` option), which is what the SDK used before.
import http from 'node:http';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';

const { values: a } = parseArgs({
  options: {
    client: { type: 'string', default: resolve(import.meta.dirname, '../../../clients/node/client') },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const url = process.env.SESSIOND_URL, key = process.env.SESSIOND_API_KEY;
if (!url || !key) throw new Error('set SESSIOND_URL and SESSIOND_API_KEY');
const { SessiondClient } = await import(pathToFileURL(resolve(a.client, 'dist/src/index.js')).href);

const sdk = new SessiondClient({ url, apiKey: key });
const { token } = await sdk.createSession({ user_id: 'overhead', device: { user_agent: 'bench', ip: '10.0.0.1' } });
const body = JSON.stringify({ token });

// raw: the least a Node app can do — node:http, a keep-alive agent, no timeout.
const u = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function raw() {
  return new Promise((ok, fail) => {
    const req = http.request({ agent, host: u.hostname, port: u.port, method: 'POST', path: '/v1/sessions/verify',
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let t = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (t += c));
      res.on('end', () => (res.statusCode === 200 ? ok(JSON.parse(t)) : fail(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', fail);
    req.end(body);
  });
}
const viaFetch = new SessiondClient({ url, apiKey: key, fetch: globalThis.fetch });

// undici: the SDK's own transport, called by hand (the SDK's copy of undici).
const { Pool } = await import(pathToFileURL(createRequire(resolve(a.client, 'package.json')).resolve('undici')).href);
const pool = new Pool(url, { connections: 64 });
async function rawUndici() {
  const res = await pool.request({ method: 'POST', path: '/v1/sessions/verify', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body });
  const t = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
  return JSON.parse(t);
}

async function run(name, call) {
  for (let i = 0; i < 200; i++) await call(); // warm up
  const stopAt = Date.now() + Number(a.seconds) * 1000;
  let n = 0;
  const c0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: Number(a.concurrency) }, async () => {
    while (Date.now() < stopAt) {
      await call();
      // A cache hit never waits for I/O: let the event loop (the change stream) run now and then, as requests would.
      if (++n % 64 === 0) await new Promise(setImmediate);
    }
  }));
  const secs = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
  console.log(`| ${name} | ${Math.round(n / secs)} | ${((c.user + c.system) / n).toFixed(1)} |`);
}

console.log('| caller | verify calls/s | app CPU µs per verify |\n|---|---:|---:|');
// Rounds alternate the callers, so that a busy moment of the machine does not land on one alone.
const cached = new SessiondClient({ url, apiKey: key, cache: true });
for (let t0 = Date.now(); !cached.cacheStats().ready && Date.now() - t0 < 10_000; ) await new Promise((r) => setTimeout(r, 10));
for (let r = 0; r < Number(a.rounds); r++) {
  await run('node:http keep-alive, hand-written', raw);
  await run('undici Pool.request, hand-written', rawUndici);
  await run('@sessiond/client', () => sdk.verifySession({ token }));
  await run('@sessiond/client over the global fetch', () => viaFetch.verifySession({ token }));
  await run('@sessiond/client, cache on (hits)', () => cached.verifySession({ token }));
}
cached.close();
sdk.close();
agent.destroy();
await pool.close();
