// Loads the real `better-auth` with the BETTER_AUTH_SECRET and SITE_URL coder-convex derived,
// in production mode (where Better Auth refuses a missing or default secret), and shows that
// it accepts them: the secret and base URL are the ones in force, the app's origin is trusted
// and another origin is refused, and a session cookie signed with the secret comes back.
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";

process.env.NODE_ENV = "production";
const secret = process.env.BETTER_AUTH_SECRET;
const siteUrl = process.env.SITE_URL;
const db = { user: [], session: [], account: [], verification: [] };
const auth = betterAuth({
  secret,
  baseURL: siteUrl,
  trustedOrigins: [siteUrl],
  database: memoryAdapter(db),
  emailAndPassword: { enabled: true },
  logger: { disabled: true },
});
const ctx = await auth.$context;

const signUp = (origin) =>
  auth.handler(
    new Request(`${siteUrl}/api/auth/sign-up/email`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify({ email: "ada@example.com", password: "correct horse battery", name: "Ada" }),
    }),
  );
const foreign = await signUp("https://evil.example.com");
const own = await signUp(new URL(siteUrl).origin);
const cookie = own.headers.get("set-cookie") ?? "";
const session = await auth.api.getSession({
  headers: new Headers({ cookie: cookie.split(";")[0] }),
});
// The same cookie under another secret is worthless: the secret is what signs it.
const other = betterAuth({
  secret: "another-secret-of-at-least-thirty-two-characters",
  baseURL: siteUrl,
  database: memoryAdapter(db),
  logger: { disabled: true },
});
const otherSession = await other.api.getSession({
  headers: new Headers({ cookie: cookie.split(";")[0] }),
});
const ok = await auth.handler(new Request(`${siteUrl}/api/auth/ok`));

console.log(
  JSON.stringify({
    secret_in_force: ctx.secret === secret,
    base_url: ctx.baseURL,
    trusted_origins: ctx.trustedOrigins,
    foreign_origin_status: foreign.status,
    own_origin_status: own.status,
    secure_cookie: /;\s*Secure/i.test(cookie),
    session_email: session?.user?.email ?? null,
    other_secret_session: otherSession?.user?.email ?? null,
    ok_route: await ok.json(),
  }),
);
