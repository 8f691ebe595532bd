# syntax=docker/dockerfile:1
# The official Bun image, pinned to the version in package.json ("engines"); test/deploy-files.test.ts checks both.
ARG BUN_VERSION=1.3.14

# Production dependencies only, exactly as bun.lock pins them (the build fails if the lockfile is stale).
FROM oven/bun:${BUN_VERSION}-slim AS deps
WORKDIR /app
COPY package.json bun.lock ./
# patches/: a fix to postgres.js that `bun install` applies (see patches/README.md).
COPY patches ./patches
RUN bun install --frozen-lockfile --production

FROM oven/bun:${BUN_VERSION}-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY src ./src
# The release command (`bun run db:migrate`) reads the committed migrations from here.
COPY drizzle ./drizzle
# The image's unprivileged user; the files stay root-owned, so the service cannot change its own code.
USER bun
EXPOSE 3000
# `bun run` forwards the signal to the service, which stops reading, finishes in-flight handlers
# and exits 0 (fly.toml sends the same signal).
STOPSIGNAL SIGTERM
# For docker and compose; on Fly.io the checks in fly.toml apply.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bun", "-e", "const r = await fetch('http://127.0.0.1:' + (process.env.PORT ?? 3000) + '/health/live'); process.exit(r.ok ? 0 : 1)"]
CMD ["bun", "run", "start"]
