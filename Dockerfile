# bouncer: ext_authz server + HTTP side. Build: docker build -t bouncer .
#
# Node 24 LTS on Debian 12 (bookworm) slim, pinned by digest so a rebuild gets
# the same base (this digest is a multi-platform index; it carried Node 24.18.0
# when pinned). To move it on: `docker buildx imagetools inspect node:24-bookworm-slim`
# and replace the digest here, in both stages.
# The build context is only what is copied below (.dockerignore keeps .demo/,
# node_modules/ and the rest out).
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
# `npm ci` runs `prepare` (tsc), which builds dist/src from src/.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
COPY envoy ./envoy
# The demo OIDC IdP, for docker-compose's load profile.
COPY scripts/dev-idp.mjs ./scripts/dev-idp.mjs
# The load profile's named volumes start out owned by whoever owns these folders in the image.
RUN mkdir -p /var/lib/bouncer/load /var/lib/bouncer/keys && chown -R node:node /var/lib/bouncer
USER node
EXPOSE 9001 8080
ENTRYPOINT ["node", "dist/src/cli/bin.js"]
CMD ["serve", "--config", "/etc/bouncer/bouncer.yaml"]
