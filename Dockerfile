# The zerodown worker (and CLI). tsx runs the TypeScript sources directly, so it is a runtime dependency.
FROM node:20-bookworm-slim

ENV NODE_ENV=production
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src

# Local state (keys, pid files) goes to a folder the unprivileged user owns.
RUN mkdir -p /app/.state && chown node:node /app/.state
ENV ZERODOWN_STATE_DIR=/app/.state
USER node

CMD ["node", "bin/zerodown.js", "worker"]
