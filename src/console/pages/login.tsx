/** The login form: the admin token, posted once and turned into a session cookie. */
export function LoginPage({ next, error }: { next: string; error?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>Log in · Orderstream console</title>
        <link rel="stylesheet" href="/ui/assets/console.css" />
      </head>
      <body class="login">
        <form method="post" action="/ui/login" class="login-box">
          <h1>Orderstream console</h1>
          <p class="muted">Enter the admin token (ADMIN_TOKEN).</p>
          {error && <p class="banner error" role="alert" data-testid="login-error">{error}</p>}
          <input type="hidden" name="next" value={next} />
          <label>
            Admin token
            <input type="password" name="token" autocomplete="current-password" required autofocus />
          </label>
          <button type="submit">Log in</button>
        </form>
      </body>
    </html>
  );
}
