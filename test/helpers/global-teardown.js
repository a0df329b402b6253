// Stops the private PostgreSQL that global-setup.js started and removes its folder.
export default async function globalTeardown() {
  const server = globalThis.__bouncerTestPostgres;
  if (!server) return;
  globalThis.__bouncerTestPostgres = undefined;
  await server.stop();
}
