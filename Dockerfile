# bouncer: ext_authz server + HTTP side. Build: docker build -t bouncer .
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
COPY bench ./bench
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY envoy ./envoy
USER node
EXPOSE 9001 8080
ENTRYPOINT ["node", "dist/src/cli/bin.js"]
CMD ["serve", "--config", "/etc/bouncer/bouncer.yaml"]
