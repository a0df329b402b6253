// The hostname lifecycle end to end (hostnames-xds-e2e.test.ts) with
// `xds.listener_mode: internal`: every hostname behind its own cluster and internal
// listener, with bouncer's real ext_authz deciding on the client's device certificate.
process.env.BOUNCER_E2E_XDS_LISTENER_MODE = 'internal';
await import('./hostnames-xds-e2e.test.js');
