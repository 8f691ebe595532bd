import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";

/** The session cookie: `<expires epoch s>.<HMAC-SHA256(ADMIN_TOKEN, "console-session:<expires>")>`. */
export const SESSION_COOKIE = "orderstream_console";
/** How long a login lasts. */
export const SESSION_TTL_S = 12 * 3600;
/** Form field and header carrying the CSRF token on every state-changing console request. */
export const CSRF_FIELD = "_csrf";
export const CSRF_HEADER = "x-csrf-token";

/** Per request: this session's CSRF token (null when a bearer token got the request in). */
export type ConsoleEnv = { Variables: { csrf: string | null } };

export interface ConsoleAuth {
  /** The token is right (compared in constant time). */
  checkToken(candidate: string): boolean;
  /** Sets the session cookie after a good login. */
  startSession(c: Context<ConsoleEnv>): void;
  endSession(c: Context<ConsoleEnv>): void;
  /** Admits a request with a live session cookie or `Authorization: Bearer <ADMIN_TOKEN>`; sets c.var.csrf. */
  guard: MiddlewareHandler<ConsoleEnv>;
  /** Refuses state-changing requests from another site (Origin) or without this session's CSRF token. */
  csrf: MiddlewareHandler<ConsoleEnv>;
  /** Without ADMIN_TOKEN (never in production) the console is open, like the admin API. */
  open: boolean;
}

export interface ConsoleAuthOptions {
  token: string | undefined;
  /** Secure cookies (HTTPS only): production. */
  secure: boolean;
  now?: () => number;
}

/**
 * The console's access control. The cookie never holds the token, only an expiry and its HMAC
 * under the token: it cannot be turned back into the token, it dies after SESSION_TTL_S, and
 * changing ADMIN_TOKEN ends every session. HttpOnly (no script reads it), SameSite=Strict (no
 * other site's page sends it), Secure in production, and scoped to /ui.
 */
export function consoleAuth({ token, secure, now = Date.now }: ConsoleAuthOptions): ConsoleAuth {
  // Keys derived from the token, one per purpose; without a token a per-process key signs CSRF tokens.
  const base = token ?? randomBytes(32).toString("hex");
  const key = (purpose: string) => createHmac("sha256", base).update(`orderstream-console:${purpose}`).digest();
  const sessionKey = key("session");
  const csrfKey = key("csrf");
  const mac = (k: Buffer, text: string) => createHmac("sha256", k).update(text).digest("base64url");

  const sessionValue = (expires: number) => `${expires}.${mac(sessionKey, `console-session:${expires}`)}`;
  const validSession = (value: string | undefined): boolean => {
    const match = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? "");
    if (!match) return false;
    const expires = Number(match[1]);
    return expires * 1000 > now() && safeEqual(match[2]!, mac(sessionKey, `console-session:${expires}`));
  };
  const bearerOk = (header: string | undefined) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
    return !!token && !!m && safeEqual(m[1]!, token);
  };
  const csrfFor = (session: string) => mac(csrfKey, `console-csrf:${session}`);

  return {
    open: !token,
    checkToken: (candidate) => !!token && safeEqual(candidate, token),
    startSession(c) {
      const expires = Math.floor(now() / 1000) + SESSION_TTL_S;
      setCookie(c, SESSION_COOKIE, sessionValue(expires), { path: "/ui", httpOnly: true, secure, sameSite: "Strict", maxAge: SESSION_TTL_S });
    },
    endSession(c) {
      deleteCookie(c, SESSION_COOKIE, { path: "/ui", httpOnly: true, secure, sameSite: "Strict" });
    },
    guard: async function consoleGuard(c, next) {
      const session = getCookie(c, SESSION_COOKIE);
      if (!token) {
        c.set("csrf", csrfFor("open"));
      } else if (bearerOk(c.req.header("authorization"))) {
        // A header a browser never adds on its own: no CSRF token needed.
        c.set("csrf", null);
      } else if (validSession(session)) {
        c.set("csrf", csrfFor(session!));
      } else {
        return toLogin(c);
      }
      await next();
    },
    csrf: async function consoleCsrf(c, next) {
      if (c.req.method === "GET" || c.req.method === "HEAD") return next();
      if (!sameOrigin(c)) return c.text("cross-site request refused", 403);
      const expected = c.get("csrf");
      if (expected === null) return next(); // bearer
      // { all: true } as every handler parses it: hono keeps the first parse for the request.
      const form = (c.req.header("content-type") ?? "").includes("form") ? await c.req.parseBody({ all: true }) : {};
      const sent = c.req.header(CSRF_HEADER) ?? (typeof form[CSRF_FIELD] === "string" ? (form[CSRF_FIELD] as string) : "");
      if (!expected || !safeEqual(sent, expected)) return c.text("missing or wrong CSRF token; reload the page", 403);
      await next();
    },
  };
}

/** Pages go to the login form; htmx requests are told to go there (a swapped-in login form would be wrong). */
function toLogin(c: Context<ConsoleEnv>): Response {
  const next = c.req.method === "GET" ? new URL(c.req.url).pathname + new URL(c.req.url).search : "/ui";
  const to = `/ui/login?next=${encodeURIComponent(next)}`;
  if (c.req.header("hx-request")) return c.body(null, 401, { "HX-Redirect": to });
  return c.redirect(to, 303);
}

/**
 * A browser names the page a request came from in Origin (every POST) and Sec-Fetch-Site; one
 * from another site is refused. Only the host is compared: behind Fly's proxy the service sees
 * http while the browser used https.
 */
export function sameOrigin(c: Context): boolean {
  if (c.req.header("sec-fetch-site") === "cross-site") return false;
  const origin = c.req.header("origin");
  if (!origin || origin === "null") return origin !== "null";
  try {
    return new URL(origin).host === (c.req.header("host") ?? new URL(c.req.url).host);
  } catch {
    return false;
  }
}

/** Only paths inside the console are followed after a login, never another site (`//evil`, `/\evil`). */
export function safeNext(next: string | undefined): string {
  return next && /^\/ui(\/[^\\]*)?(\?.*)?$/.test(next) && !next.startsWith("//") ? next : "/ui";
}

/** Constant time for equal lengths; hashing first makes the length of the secret unobservable too. */
function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}
