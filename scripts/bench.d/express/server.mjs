// The usual tutorial stack for `scripts/bench --express`: the session layer
// of a typical express-session tutorial's complete project (the same one
// scripts/bench.d/apps/app.mjs follows) — express-session + connect-redis,
// rolling 30-minute cookie, an 8-hour absolute timeout checked in
// middleware, regenerate on login — without helmet and console logging, and
// with routes shaped like sessiond's:
//
//   POST /login   {user_id, device: {user_agent, ip}, data?}  → regenerate, store them; Set-Cookie sid
//   POST /verify  (cookie sid)                                  → {user_id, data}, or 401
//
// Environment: REDIS_URL, PORT, SESSION_SECRET.
import express from 'express';
import session from 'express-session';
import { createClient } from 'redis';
import { RedisStore } from 'connect-redis';

const ABSOLUTE_LIFETIME_MS = 1000 * 60 * 60 * 8;

const app = express();
app.use(express.json());

const redisClient = createClient({ url: process.env.REDIS_URL });
redisClient.on('error', (err) => console.error('Redis error:', err));
await redisClient.connect();
const store = new RedisStore({ client: redisClient, prefix: 'sess:' });

app.use(session({
  store,
  name: 'sid',
  secret: process.env.SESSION_SECRET,
  resave: false,
  saveUninitialized: false,
  rolling: true,
  cookie: { httpOnly: true, secure: false, sameSite: 'lax', maxAge: 1000 * 60 * 30 },
}));

app.use((req, res, next) => {
  if (req.session.userId && req.session.loginAt) {
    const age = Date.now() - new Date(req.session.loginAt).getTime();
    if (age > ABSOLUTE_LIFETIME_MS) {
      return req.session.destroy(() => {
        res.clearCookie('sid');
        res.status(401).json({ error: 'Session expired' });
      });
    }
  }
  next();
});

app.post('/login', (req, res) => {
  const { user_id: userId, device = {}, data = {} } = req.body ?? {};
  if (typeof userId !== 'string' || userId === '') return res.status(400).json({ error: 'user_id required' });
  req.session.regenerate((err) => {
    if (err) return res.status(500).json({ error: 'Session error' });
    req.session.userId = userId;
    req.session.loginAt = new Date().toISOString();
    req.session.userAgent = device.user_agent;
    req.session.ip = device.ip;
    req.session.data = data;
    res.json({ ok: true });
  });
});

app.post('/verify', (req, res) => {
  if (!req.session.userId) return res.status(401).json({ error: 'Not authenticated' });
  res.json({ user_id: req.session.userId, data: req.session.data });
});

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}`));
