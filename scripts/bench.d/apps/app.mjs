// scripts/bench.d/apps/app.mjs — the seed tutorial's Express app for
// `scripts/bench --apps`: JSON POST /login, GET /profile, POST /logout,
// helmet, nothing else; its sessions either on express-session +
// connect-redis (the seeds' stack) or on @sessiond/express.
//
// Environment:
//   APP_MODE      express-session | sessiond | sessiond-cache
//   PORT          where to listen (127.0.0.1)
//   REDIS_URL, SESSION_SECRET                  express-session
//   SESSIOND_URL, SESSIOND_API_KEY, SDK_EXPRESS  sessiond (SDK_EXPRESS: file URL
//                 of a built @sessiond/express, dist/src/index.js)
//
// Any username logs in with the password "pw" (a demo user table; the
// password check costs the same in every mode). /profile answers the user,
// the session id and data as JSON; 401 without a logged-in session.
import express from 'express';
import helmet from 'helmet';

const mode = process.env.APP_MODE;
const app = express();
app.disable('x-powered-by');
app.use(helmet());
app.use(express.json());

const checkPassword = (user, pw) => typeof user === 'string' && user !== '' && user.length <= 128 && pw === 'pw';

if (mode === 'express-session') {
  // The seeds' session layer (../express/server.mjs): rolling 30-minute
  // cookie, 8-hour absolute timeout checked per request, regenerate on login.
  const { default: session } = await import('express-session');
  const { RedisStore } = await import('connect-redis');
  const { createClient } = await import('redis');
  const ABSOLUTE_LIFETIME_MS = 1000 * 60 * 60 * 8;
  const redisClient = createClient({ url: process.env.REDIS_URL });
  redisClient.on('error', (err) => console.error('Redis error:', err));
  await redisClient.connect();
  app.use(session({
    store: new RedisStore({ client: redisClient, prefix: 'sess:' }),
    name: 'sid',
    secret: process.env.SESSION_SECRET,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, secure: false, sameSite: 'lax', maxAge: 1000 * 60 * 30 },
  }));
  app.use((req, res, next) => {
    if (req.session.userId && Date.now() - req.session.loginAt > ABSOLUTE_LIFETIME_MS) {
      return req.session.destroy(() => res.clearCookie('sid').status(401).json({ error: 'Session expired' }));
    }
    next();
  });
  app.post('/login', (req, res) => {
    const { username, password } = req.body ?? {};
    if (!checkPassword(username, password)) return res.status(401).json({ error: 'Invalid credentials' });
    req.session.regenerate((err) => {
      if (err) return res.status(500).json({ error: 'Session error' });
      req.session.userId = username;
      req.session.loginAt = Date.now();
      res.json({ ok: true });
    });
  });
  app.get('/profile', (req, res) => {
    if (!req.session.userId) return res.status(401).json({ error: 'Not authenticated' });
    res.json({ user: req.session.userId, id: req.sessionID, data: req.session.data ?? {} });
  });
  app.post('/logout', (req, res) => {
    req.session.destroy((err) => {
      if (err) return res.status(500).json({ error: 'Logout failed' });
      res.clearCookie('sid').json({ ok: true });
    });
  });
} else if (mode === 'sessiond' || mode === 'sessiond-cache') {
  const { sessiond } = await import(process.env.SDK_EXPRESS);
  app.use(sessiond({
    url: process.env.SESSIOND_URL,
    apiKey: process.env.SESSIOND_API_KEY,
    cache: mode === 'sessiond-cache',
    cookie: { secure: false },
  }));
  app.post('/login', async (req, res) => {
    const { username, password } = req.body ?? {};
    if (!checkPassword(username, password)) return res.status(401).json({ error: 'Invalid credentials' });
    await req.session.login(username); // a new token: a planted cookie is worthless
    res.json({ ok: true });
  });
  // The same check as the express-session variant's, in the handler (requireLogin() would add a layer).
  app.get('/profile', (req, res) => {
    if (!req.session.userId) return res.status(401).json({ error: 'Not authenticated' });
    res.json({ user: req.session.userId, id: req.session.id, data: req.session.data });
  });
  app.post('/logout', async (req, res) => {
    await req.session.destroy();
    res.json({ ok: true });
  });
  app.use((err, req, res, _next) => res.status(err.status ?? 500).set(err.headers ?? {}).json({ error: err.expose ? err.message : 'error' }));
} else {
  throw new Error(`APP_MODE must be express-session, sessiond or sessiond-cache, not ${mode}`);
}

const port = Number(process.env.PORT || 3000);
app.listen(port, '127.0.0.1', () => console.log(`${mode} app on http://127.0.0.1:${port}`));
