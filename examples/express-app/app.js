// The seed tutorial's app (an Express login/profile app), with sessiond doing the sessions.
import express from 'express';
import { sessiond, requireLogin, requireRecentAuth, requireAal } from '@sessiond/express';

const USERS = { alice: 'correct-horse', bob: 'battery-staple', carol: 'staple-horse' }; // demo only: use argon2id hashes
const checkPassword = (user, pw) => Object.hasOwn(USERS, user) && USERS[user] === pw;
const checkOTP = (user, code) => Object.hasOwn(USERS, user) && code === '123456'; // demo only: a TOTP check (RFC 6238)
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const page = (title, body) => `<!doctype html><title>${esc(title)}</title><h1>${esc(title)}</h1>${body}`;
const form = (req, action, fields, label) =>
  `<form method="post" action="${action}"><input type="hidden" name="_csrf" value="${esc(req.session.csrfToken)}">${fields}<button>${label}</button></form>`;
const csrfFailed = (res) =>
  res.status(403).send(page('This form has expired', `<p id="csrf-failed">The form you sent could not be verified as coming from this site,
    so nothing was done. This happens when a page was open for a long time, after logging in or out in another tab,
    or when another website tried to send the form for you.</p><p><a href="/login">Go back</a>, reload the page and try again.</p>`));
const credentials = '<input name="username" autocomplete="username"><input name="password" type="password">';

export function createApp({ url, apiKey, reauthMaxAge = 300, cookie = {}, cache = false }) {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.urlencoded({ extended: false }));
  app.use(sessiond({ url, apiKey, cookie, cache })); // cache: true answers verifies locally (README, "Clients")
  const mustLogin = requireLogin((req, res) => res.redirect(303, '/login'));

  app.get('/', async (req, res) => {
    req.session.data.views = (req.session.data.views ?? 0) + 1;
    await req.session.save();
    res.send(page('Home', `<p>Hello ${esc(req.session.userId ?? 'visitor')}, view <b id="views">${req.session.data.views}</b>.</p>`));
  });

  // Login CSRF: the form needs a session to carry a CSRF token, so a first
  // visit starts an anonymous pre-session; a login POST without one did not
  // come from this form (another site, or a stale tab) and is refused.
  app.get('/login', async (req, res) => {
    if (req.session.isNew) await req.session.save();
    res.send(page('Log in', form(req, '/login', credentials, 'Log in')));
  });
  app.post('/login', async (req, res) => {
    if (req.session.isNew) return csrfFailed(res);
    if (!checkPassword(req.body.username, req.body.password)) return res.status(401).send(page('Wrong username or password', ''));
    await req.session.login(req.body.username, { amr: ['pwd'] }); // new token: a planted cookie is worthless; one factor: aal 1
    res.redirect(303, '/profile');
  });

  app.get('/profile', mustLogin, async (req, res) => {
    const devices = (await req.session.devices())
      .map((d) => `<li class="device${d.current ? ' current' : ''}">${esc(d.device.label || d.device.user_agent)}, since ${esc(d.created_at)}</li>`)
      .join('');
    res.send(page(`Profile of ${req.session.userId}`, `<p id="name">${esc(req.session.data.name)}</p><p id="email">${esc(req.session.data.email)}</p>
      ${form(req, '/profile', '<input name="name">', 'Save name')}<ul>${devices}</ul>
      ${form(req, '/logout-others', '', 'Log out other devices')}${form(req, '/email', '<input name="email">', 'Change email')}
      ${form(req, '/logout', '', 'Log out')}`));
  });
  app.post('/profile', mustLogin, async (req, res) => {
    req.session.data.name = String(req.body.name ?? '').slice(0, 100);
    await req.session.save(); // a JSON merge patch of what changed
    res.redirect(303, '/profile');
  });

  app.post('/logout-others', mustLogin, async (req, res) => {
    const ended = await req.session.logoutOtherDevices();
    res.send(page('Other devices logged out', `<p id="ended">${ended.length}</p><a href="/profile">Back</a>`));
  });

  // A sensitive action: the password must have been entered in the last reauthMaxAge seconds.
  const recentAuth = requireRecentAuth(reauthMaxAge, (req, res) => res.status(403).send(page('Confirm your password', form(req, '/reauth', credentials, 'Confirm'))));
  app.post('/email', mustLogin, recentAuth, async (req, res) => {
    req.session.data.email = String(req.body.email ?? '').slice(0, 254);
    await req.session.save();
    res.redirect(303, '/profile');
  });
  app.post('/reauth', mustLogin, async (req, res) => {
    if (req.body.username !== req.session.userId || !checkPassword(req.body.username, req.body.password)) return res.status(401).send(page('Wrong password', ''));
    await req.session.reauthenticate();
    res.redirect(303, '/profile');
  });

  // Two factors for the security page: a password login is aal 1; a one-time code adds a
  // possession factor (req.session.stepUp), making the session aal 2.
  const twoFactors = requireAal(2, (req, res) => res.status(403).send(page('Enter your one-time code', form(req, '/step-up', '<input name="code" autocomplete="one-time-code">', 'Confirm'))));
  app.get('/security', mustLogin, twoFactors, (req, res) => {
    res.send(page('Security', `<p id="aal">${req.session.aal}</p><p id="amr">${esc(req.session.amr.map((f) => f.method).join(' '))}</p>`));
  });
  app.post('/step-up', mustLogin, async (req, res) => {
    if (!checkOTP(req.session.userId, req.body.code)) return res.status(401).send(page('Wrong code', ''));
    await req.session.stepUp(['otp']);
    res.redirect(303, '/security');
  });

  app.post('/logout', async (req, res) => {
    await req.session.destroy();
    res.redirect(303, '/');
  });

  // A CSRF failure (a wrong or missing _csrf, from the middleware) gets its own page; sessiond
  // down → 503 (Retry-After), a revoked API key → 500; the cookie is kept in every case.
  app.use((err, req, res, _next) => {
    if (err.code === 'csrf_mismatch') return csrfFailed(res);
    if ((err.status ?? 500) >= 500) console.error(`${req.method} ${req.path}: ${err.message}`);
    res.status(err.status ?? 500).set(err.headers ?? {}).send(page(err.status === 503 ? 'Back in a moment' : 'Something went wrong', ''));
  });
  return app;
}
