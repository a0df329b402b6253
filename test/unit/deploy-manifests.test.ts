/**
 * The manifests in deploy/ checked for shape against the Kubernetes API
 * schemas: kubernetes-models (core and apps kinds, from Kubernetes' OpenAPI
 * document), @kubernetes-models/gateway-api and @kubernetes-models/istio (from
 * those projects' CRDs). Their validators check types, enums and required
 * fields but, like the OpenAPI schemas, let unknown fields through, which the
 * API server would prune or (with strict field validation) refuse. So each
 * object is validated through a proxy that records which fields the validator
 * read: a field it never looked at is not in the schema.
 *
 * Envoy Gateway's own CRDs (ClientTrafficPolicy, SecurityPolicy,
 * EnvoyPatchPolicy) have no maintained schema package; mesh-envoy.test.ts ties
 * their fields to the Envoy configuration they produce instead.
 */
import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { packageRoot } from '../../src/paths.js';

type Validate = ((data: unknown) => boolean) & { errors?: Array<{ instancePath: string; message?: string; keyword: string; params: unknown }> | null };

const ROOT = packageRoot();
const DEPLOY = join(ROOT, 'deploy');

/** Schema module per apiVersion and kind (the packages map `_schemas/*` to `*.js`). Istio's package exports no schema path, so its files are imported by location. */
const SCHEMAS: Record<string, string> = {
  'v1/Namespace': 'kubernetes-models/_schemas/IoK8sApiCoreV1Namespace',
  'v1/ConfigMap': 'kubernetes-models/_schemas/IoK8sApiCoreV1ConfigMap',
  'v1/Service': 'kubernetes-models/_schemas/IoK8sApiCoreV1Service',
  'apps/v1/Deployment': 'kubernetes-models/_schemas/IoK8sApiAppsV1Deployment',
  'policy/v1/PodDisruptionBudget': 'kubernetes-models/_schemas/IoK8sApiPolicyV1PodDisruptionBudget',
  'networking.k8s.io/v1/NetworkPolicy': 'kubernetes-models/_schemas/IoK8sApiNetworkingV1NetworkPolicy',
  'gateway.networking.k8s.io/v1/Gateway': '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1Gateway',
  'gateway.networking.k8s.io/v1/HTTPRoute': '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1HTTPRoute',
  'gateway.networking.k8s.io/v1beta1/ReferenceGrant': '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1beta1ReferenceGrant',
  'networking.istio.io/v1/Gateway': 'file:@kubernetes-models/istio/_schemas/NetworkingIstioIoV1Gateway.js',
  'networking.istio.io/v1/VirtualService': 'file:@kubernetes-models/istio/_schemas/NetworkingIstioIoV1VirtualService.js',
  'networking.istio.io/v1alpha3/EnvoyFilter': 'file:@kubernetes-models/istio/_schemas/NetworkingIstioIoV1alpha3EnvoyFilter.js',
  'security.istio.io/v1/AuthorizationPolicy': 'file:@kubernetes-models/istio/_schemas/SecurityIstioIoV1AuthorizationPolicy.js',
};

/** Kinds no schema package covers, checked elsewhere (see the header). */
const UNCHECKED = new Set(['gateway.envoyproxy.io/v1alpha1/ClientTrafficPolicy', 'gateway.envoyproxy.io/v1alpha1/SecurityPolicy', 'gateway.envoyproxy.io/v1alpha1/EnvoyPatchPolicy']);

/** Free-form fields (google.protobuf.Struct, x-kubernetes-preserve-unknown-fields): their insides are not schema fields. */
const FREE_FORM = [/^\.spec\.configPatches\[\d+\]\.patch\.value\./];

/**
 * Fields newer than the schema package, each with the release that added it.
 * The test also asserts that each is still reported, so the entry goes when the package catches up.
 */
const NEWER_THAN_PACKAGE: ReadonlyArray<{ file: string; index: number; path: string; why: string }> = [
  {
    file: 'istio/gateway.yaml',
    index: 0,
    path: '.spec.servers[0].tls.insecureSkipVerify',
    why: 'ServerTLSSettings.insecureSkipVerify is in Istio 1.31 (crd-all.gen.yaml); @kubernetes-models/istio 3.0.1 predates it',
  },
];

const validators = new Map<string, Promise<Validate>>();
function validatorFor(key: string): Promise<Validate> | undefined {
  const spec = SCHEMAS[key];
  if (spec === undefined) return undefined;
  let v = validators.get(key);
  if (v === undefined) {
    const target = spec.startsWith('file:') ? pathToFileURL(join(ROOT, 'node_modules', spec.slice('file:'.length))).href : spec;
    v = import(target).then((m: { validate: Validate }) => m.validate);
    validators.set(key, v);
  }
  return v;
}

/** A copy of `value` whose objects record, in `unread`, each of their fields until something reads it. */
function tracked(value: unknown, path: string, unread: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${path}[${i}]`, unread));
  if (value === null || typeof value !== 'object') return value;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    const p = `${path}.${k}`;
    copy[k] = tracked(v, p, unread);
    if (!FREE_FORM.some((re) => re.test(p))) unread.add(p);
  }
  return new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === 'string') unread.delete(`${path}.${key}`);
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
}

interface Finding {
  readonly problems: string[];
  readonly unknownFields: string[];
}

/** Validates one object: schema errors, and fields the schema does not have. */
async function check(obj: Record<string, unknown>): Promise<Finding | 'unchecked'> {
  const key = `${String(obj.apiVersion)}/${String(obj.kind)}`;
  if (UNCHECKED.has(key)) return 'unchecked';
  const validate = await validatorFor(key);
  if (validate === undefined) return { problems: [`no schema for ${key}: add it to SCHEMAS or UNCHECKED`], unknownFields: [] };
  const unread = new Set<string>();
  const ok = validate(tracked(obj, '', unread));
  const problems = ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`);
  // `status` is written by the cluster, never by a manifest. Inside an unknown field, everything is unknown: name only the outermost.
  const unknown = [...unread].filter((p) => !p.startsWith('.status'));
  return { problems, unknownFields: unknown.filter((p) => !unknown.some((q) => q !== p && (p.startsWith(`${q}.`) || p.startsWith(`${q}[`)))) };
}

function manifests(): Array<{ file: string; index: number; obj: Record<string, unknown> }> {
  const out: Array<{ file: string; index: number; obj: Record<string, unknown> }> = [];
  for (const dir of ['kubernetes', 'istio', 'envoy-gateway']) {
    for (const name of readdirSync(join(DEPLOY, dir)).filter((f) => f.endsWith('.yaml')).sort()) {
      // Not a Kubernetes object: a fragment of istiod's values (checked in mesh-envoy.test.ts).
      if (dir === 'istio' && name === 'mesh-config.yaml') continue;
      parseAllDocuments(readFileSync(join(DEPLOY, dir, name), 'utf8')).forEach((d, index) => {
        const obj = d.toJSON() as Record<string, unknown> | null;
        if (obj) out.push({ file: `${dir}/${name}`, index, obj });
      });
    }
  }
  return out;
}

function docsOf(file: string): Array<Record<string, unknown>> {
  return manifests()
    .filter((m) => m.file === file)
    .map((m) => m.obj);
}

const clone = <T>(v: T): T => structuredClone(v);

describe('deploy/ manifests against the Kubernetes, Gateway API and Istio schemas', () => {
  const all = manifests();

  test('there is something to check', () => {
    const kinds = all.map((m) => String(m.obj.kind));
    for (const kind of ['Deployment', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'NetworkPolicy', 'Gateway', 'HTTPRoute', 'AuthorizationPolicy', 'EnvoyFilter', 'VirtualService']) {
      expect(kinds).toContain(kind);
    }
  });

  test.each(all.map((m) => [`${m.file}#${m.index} ${String(m.obj.kind)}`, m] as const))('%s', async (_name, m) => {
    const finding = await check(m.obj);
    if (finding === 'unchecked') return;
    expect(finding.problems).toEqual([]);
    const allowed = NEWER_THAN_PACKAGE.filter((n) => n.file === m.file && n.index === m.index).map((n) => n.path);
    expect(finding.unknownFields.filter((p) => !allowed.includes(p))).toEqual([]);
    // Still newer than the package? Otherwise drop the entry.
    for (const p of allowed) expect(finding.unknownFields).toContain(p);
  });

  test('a misspelt or misplaced field is caught', async () => {
    const deployment = docsOf('kubernetes/deployment.yaml')[0] as Record<string, unknown>;
    const spec = (clone(deployment).spec as { template: { spec: { containers: Array<Record<string, unknown>> } } });
    const container = spec.template.spec.containers[0] as Record<string, unknown>;
    container.readinessProbes = container.readinessProbe;
    delete container.readinessProbe;
    const bad = { ...clone(deployment), spec };
    const finding = await check(bad);
    expect(finding).not.toBe('unchecked');
    expect((finding as Finding).unknownFields).toEqual(['.spec.template.spec.containers[0].readinessProbes']);

    const istioGateway = clone(docsOf('istio/gateway.yaml')[0] as Record<string, unknown>);
    (istioGateway.spec as { servers: Array<{ tls: Record<string, unknown> }> }).servers[0]!.tls.credentialNam = 'x';
    expect(((await check(istioGateway)) as Finding).unknownFields).toContain('.spec.servers[0].tls.credentialNam');

    const route = clone(docsOf('envoy-gateway/gateway.yaml')[1] as Record<string, unknown>);
    (route.spec as Record<string, unknown>).parentRef = [];
    expect(((await check(route)) as Finding).unknownFields).toEqual(['.spec.parentRef']);
  });

  test('a wrong type or value is caught', async () => {
    const deployment = clone(docsOf('kubernetes/deployment.yaml')[0] as Record<string, unknown>);
    (deployment.spec as Record<string, unknown>).replicas = 'three';
    expect(((await check(deployment)) as Finding).problems.join('\n')).toContain('/spec/replicas');

    const istioGateway = clone(docsOf('istio/gateway.yaml')[0] as Record<string, unknown>);
    (istioGateway.spec as { servers: Array<{ tls: Record<string, unknown> }> }).servers[0]!.tls.mode = 'OPTIONAL';
    expect(((await check(istioGateway)) as Finding).problems.join('\n')).toContain('/spec/servers/0/tls/mode');

    const policy = clone(docsOf('istio/authorization-policy.yaml')[0] as Record<string, unknown>);
    (policy.spec as Record<string, unknown>).action = 'EXTERNAL';
    expect(((await check(policy)) as Finding).problems.join('\n')).toContain('/spec/action');
  });
});

describe('deploy/kubernetes hangs together', () => {
  const deployment = docsOf('kubernetes/deployment.yaml')[0] as {
    spec: {
      selector: { matchLabels: Record<string, string> };
      template: {
        metadata: { labels: Record<string, string> };
        spec: {
          terminationGracePeriodSeconds: number;
          containers: Array<{
            args: string[];
            ports: Array<{ name: string; containerPort: number }>;
            lifecycle: { preStop: { sleep: { seconds: number } } };
            readinessProbe: { grpc: { port: number; service: string } };
            startupProbe: { httpGet: { path: string; port: string } };
            livenessProbe: { httpGet: { path: string; port: string } };
            volumeMounts: Array<{ name: string; mountPath: string }>;
          }>;
        };
      };
    };
  };
  const container = deployment.spec.template.spec.containers[0]!;

  test('the pod is stopped only after the preStop pause and bouncer\'s own drain have run', () => {
    const graceArg = container.args[container.args.indexOf('--grace') + 1];
    expect(graceArg).toBeDefined();
    const drain = Number(graceArg);
    expect(drain).toBeGreaterThan(0);
    const pause = container.lifecycle.preStop.sleep.seconds;
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(pause + drain + 1);
  });

  test('probes, Service and PDB point at what the pod has', () => {
    const ports = new Map(container.ports.map((p) => [p.name, p.containerPort]));
    expect(container.readinessProbe.grpc).toEqual({ port: ports.get('grpc'), service: 'envoy.service.auth.v3.Authorization' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    const service = docsOf('kubernetes/service.yaml')[0] as { spec: { selector: Record<string, string>; ports: Array<{ name: string; targetPort: string }> } };
    for (const p of service.spec.ports) expect(ports.has(p.targetPort)).toBe(true);
    const pdb = docsOf('kubernetes/pdb.yaml')[0] as { spec: { selector: { matchLabels: Record<string, string> } } };
    for (const selector of [service.spec.selector, pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels]) {
      expect(deployment.spec.template.metadata.labels).toMatchObject(selector);
    }
    const netpol = docsOf('istio/network-policy.yaml')[0] as { spec: { ingress: Array<{ ports: Array<{ port: number }> }> } };
    expect(netpol.spec.ingress[0]!.ports[0]!.port).toBe(ports.get('grpc'));
  });

  test('bouncer accepts the ConfigMap\'s config, listening where the pod\'s ports are', async () => {
    const cm = docsOf('kubernetes/configmap.yaml')[0] as { data: Record<string, string> };
    const mount = container.volumeMounts.find((v) => v.name === 'config');
    const configPath = container.args[container.args.indexOf('--config') + 1] as string;
    expect(mount && configPath.startsWith(`${mount.mountPath}/`)).toBe(true);
    const text = cm.data[configPath.slice(mount!.mountPath.length + 1)];
    expect(text).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'bouncer-k8s-'));
    try {
      const file = join(dir, 'bouncer.yaml');
      writeFileSync(file, text as string);
      const config = await loadConfig(file, { BOUNCER_DB_URL: 'postgres://bouncer:pw@db:5432/bouncer', BOUNCER_REDIS_URL: 'redis://redis:6379' });
      expect(config.listen.authz).toEqual({ host: '0.0.0.0', port: container.ports.find((p) => p.name === 'grpc')!.containerPort });
      expect(config.listen.http).toEqual({ host: '0.0.0.0', port: container.ports.find((p) => p.name === 'http')!.containerPort });
      expect(config.store.postgres?.url).toBe('postgres://bouncer:pw@db:5432/bouncer');
      expect(config.store.redis?.url).toBe('redis://redis:6379');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
