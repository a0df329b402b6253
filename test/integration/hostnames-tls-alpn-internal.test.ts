// ACME TLS-ALPN-01 end to end (hostnames-tls-alpn.test.ts) with `xds.listener_mode:
// internal`: the front listener's acme-tls/1 chains, with every hostname behind its own
// cluster and internal listener.
process.env.BOUNCER_E2E_XDS_LISTENER_MODE = 'internal';
await import('./hostnames-tls-alpn.test.js');
