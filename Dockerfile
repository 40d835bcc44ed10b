# syntax=docker/dockerfile:1
# Telemetry Vault: build with the dev toolchain, run on production dependencies
# only, as the unprivileged `node` user. The image expects DATABASE_URL (the
# embedded PostgreSQL is a development convenience and is not installed).

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The CLI's remote commands use the client SDK, an npm workspace package.
COPY clients/node/package.json ./clients/node/
# No lifecycle scripts yet: the source to build is not copied at this point.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY clients/node/tsconfig.json ./clients/node/
COPY clients/node/src ./clients/node/src
COPY src ./src
RUN npm run build:client \
 && npm run build \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    GRPC_PORT=50051 \
    HTTP_PORT=9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# node_modules/@telemetry-vault/client links here.
COPY --from=build /app/clients/node/package.json ./clients/node/
COPY --from=build /app/clients/node/dist ./clients/node/dist
COPY package.json ./
COPY bin ./bin
COPY migrations ./migrations
USER node
EXPOSE 50051 9464
# Healthy = the database answers and the server is not draining (/readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 9464) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM reaches node directly (exec form): it drains and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/telemetry-vault.js"]
CMD ["serve"]
