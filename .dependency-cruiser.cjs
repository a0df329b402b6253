// The layer order of src/, written down once. test/unit/architecture.test.ts runs
// dependency-cruiser with this file over src/ and fails on any violation.
//
//   core  <-  config  <-  state  <-  service  <-  app  <-  cli
//
// An arrow means "may import"; a module may import its own layer and any layer to
// its left, never one to its right. Type-only imports count (tsPreCompilationDeps),
// and no import cycle is allowed anywhere, type-only ones included. ARCHITECTURE.md
// explains what lives in each layer.
const LAYERS = [
  // Pure decision code: no I/O, no clock, no globals (test/unit/core-purity.test.ts).
  { name: 'core', path: '^src/core/' },
  // Reading and validating configuration; every default and limit; where the package lives.
  { name: 'config', path: '^src/(config/|paths\\.ts$|version\\.ts$)' },
  // Adapters that hold state or talk to the outside: tenant and shared-state stores,
  // sessions, OCSP and fetched CRLs, logs and metrics, key and certificate files,
  // customer hostnames and their certificates (ACME, keys at rest).
  { name: 'state', path: '^src/(stores|sessions|observability|pki|revocation|hostnames)/' },
  // The servers and renderers: ext_authz, the web service, the admin API, the Envoy
  // config renderer and xDS server, the demo upstream. They do not import each other.
  { name: 'service', path: '^src/(authz|web|admin|envoy|xds|demo)/' },
  // Wiring (the composition root of `bouncer serve`): opens the stores, keeps the
  // config current and starts the servers, each step on one cleanup stack.
  { name: 'app', path: '^src/serve/' },
  // The command line, and the load profile's programs (setup, load generator), which
  // run as commands of their own in docker-compose and in the native test.
  { name: 'cli', path: '^src/(cli|load)/' },
];

const SERVICES = ['authz', 'web', 'admin', 'envoy', 'xds', 'demo'];

const upwardRules = LAYERS.flatMap((layer, index) =>
  LAYERS.slice(index + 1).map((higher) => ({
    name: `${layer.name}-not-to-${higher.name}`,
    comment: `${layer.name} sits below ${higher.name} in the layer order and may not import it`,
    severity: 'error',
    from: { path: layer.path },
    to: { path: higher.path },
  })),
);

const serviceRules = SERVICES.map((service) => ({
  name: `${service}-not-to-other-services`,
  comment: `${service} is one service among ${SERVICES.join(', ')}; shared code goes one layer down`,
  severity: 'error',
  from: { path: `^src/${service}/` },
  to: { path: `^src/(${SERVICES.filter((s) => s !== service).join('|')})/` },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'import cycles, type-only imports included',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'src-not-to-outside',
      comment: 'src/ is the product: it never imports tests, benchmarks or scripts',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|scripts)/' },
    },
    {
      name: 'layer-unknown',
      comment: 'every file under src/ belongs to a layer: add new folders to LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map((l) => l.path) },
      to: {},
    },
    ...upwardRules,
    ...serviceRules,
  ],
  options: {
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
