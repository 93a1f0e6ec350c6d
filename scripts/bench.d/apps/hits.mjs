// scripts/bench.d/apps/hits.mjs — what a cache hit costs in @sessiond/express:
// the middleware run on a stand-in request and response, in a loop, with the
// local cache on and every session already cached (no network call).
//
//   SESSIOND_URL=http://127.0.0.1:8080 SESSIOND_API_KEY=sk_... \
//     node hits.mjs [--express DIR] [--sessions 200] [--hits 400000] [--rounds 5]
//
// DIR is a built @sessiond/express (default ../../../clients/node/express).
// Prints this process's CPU ns per hit (user+system) for each round. The
// loop holds the event loop, so it stops short of the stream's silence
// bound (three heartbeats): a round that ran into it says so.
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const { values: a } = parseArgs({
  options: {
    express: { type: 'string', default: resolve(import.meta.dirname, '../../../clients/node/express') },
    sessions: { type: 'string', default: '200' },
    hits: { type: 'string', default: '400000' },
    rounds: { type: 'string', default: '5' },
  },
});
const url = process.env.SESSIOND_URL, apiKey = process.env.SESSIOND_API_KEY;
if (!url || !apiKey) throw new Error('set SESSIOND_URL and SESSIOND_API_KEY');
const { sessiond, SessiondClient } = await import(pathToFileURL(resolve(a.express, 'dist/src/index.js')).href);

const client = new SessiondClient({ url, apiKey, cache: true });
const middleware = sessiond({ client, cookie: { secure: false } });
const device = { user_agent: 'hits.mjs', ip: '127.0.0.1' };
const requests = [];
for (let i = 0; i < Number(a.sessions); i++) {
  const { token } = await client.createSession({ user_id: `hits-${i}`, device });
  requests.push({ method: 'GET', headers: { cookie: `sid=${token}`, 'user-agent': device.user_agent }, ip: device.ip, socket: {} });
}
const response = { getHeader() {}, setHeader() {} };
while (!client.cacheStats().ready) await new Promise((ok) => setTimeout(ok, 20));
// One network verify each puts every session in the cache.
for (const req of requests) await new Promise((ok, fail) => middleware(req, response, (err) => (err ? fail(err) : ok())));

let failed = 0;
const next = (err) => {
  if (err) failed++;
};
for (let round = 1; round <= Number(a.rounds); round++) {
  await new Promise((ok) => setTimeout(ok, 200)); // let the stream be heard from
  const n = Number(a.hits), hits0 = client.cacheStats().hits, t0 = process.cpuUsage();
  for (let i = 0; i < n; i++) middleware(requests[i % requests.length], response, next);
  const t = process.cpuUsage(t0), hits = client.cacheStats().hits - hits0;
  console.log(`round ${round}: ${(((t.user + t.system) * 1000) / n).toFixed(0)} ns per request` +
    (hits === n ? '' : ` (only ${hits} of ${n} were hits: the loop outran the stream's silence bound)`));
}
await new Promise((ok) => setTimeout(ok, 200)); // misses, if any, answered
if (failed > 0) throw new Error(`${failed} requests failed`);
if (requests.some((req) => req.session.userId === undefined)) throw new Error('a request had no session');
client.close();
