// SESSIOND_URL=http://127.0.0.1:8080 SESSIOND_API_KEY=sk_... node server.js
import { createApp } from './app.js';

const app = createApp({ url: process.env.SESSIOND_URL ?? 'http://127.0.0.1:8080', apiKey: process.env.SESSIOND_API_KEY });
if (process.env.NODE_ENV === 'production') app.set('trust proxy', 1); // behind TLS: req.ip from X-Forwarded-For
const port = Number(process.env.PORT ?? 3000);
app.listen(port, () => console.log(`Listening on http://localhost:${port} (demo logins: alice/correct-horse, bob/battery-staple, carol/staple-horse)`));
