// The production manifests (infra/k8s) against real schemas, offline: kubeconform v0.8.0 (built from the Go module
// proxy) in strict mode against Kubernetes v1.33 schemas (PyPI kubernetes-validate) and KEDA v2.21.0's CRDs (its
// Go module), prepared by infra/k8s-validate.mjs. A kind with no schema is an error, and a broken copy must fail.
// Then what no schema can know: the values that must agree across files (grace periods, DuckDB memory, GPU slots,
// mount paths, KEDA scaler parameters) and the Dockerfiles' inputs.
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { parseAllDocuments, parse } from 'yaml';
import { ensureGoTool } from '../infra/tools.mjs';
import { K8S_VERSION, MANIFESTS_DIR, ensureK8sSchemas, manifestFiles, validateManifests } from '../infra/k8s-validate.mjs';
import { REPO_ROOT, TASK_QUEUE_ETL, TASK_QUEUE_GPU } from '../activities/common/config.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Obj = any;

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS()).filter(Boolean);
}
const all = () => manifestFiles().flatMap((f) => docs(f).map((d) => ({ ...d, file: relative(MANIFESTS_DIR, f) })));
const find = (kind: string, name: string): Obj => {
  const r = all().find((d) => d.kind === kind && d.metadata.name === name);
  if (!r) throw new Error(`no ${kind}/${name} in infra/k8s`);
  return r;
};

/** Kubernetes quantities and DuckDB sizes in bytes (DuckDB: KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024). */
function bytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]i?B?|[kMGT])?$/.exec(q.trim());
  if (!m) throw new Error(`not a size: ${q}`);
  const unit = (m[2] ?? '').replace(/B$/, '');
  const pow = { '': 0, k: 1, K: 1, M: 2, G: 3, T: 4 }[unit.replace('i', '')] ?? NaN;
  return Number(m[1]) * (unit.endsWith('i') ? 1024 : 1000) ** pow;
}

function container(deploy: Obj): Obj {
  return deploy.spec.template.spec.containers[0];
}
/** The container's environment as the kubelet builds it: envFrom ConfigMaps, then env (which wins). */
function effectiveEnv(deploy: Obj): Record<string, string> {
  const c = container(deploy);
  const env: Record<string, string> = {};
  for (const src of c.envFrom ?? []) Object.assign(env, find('ConfigMap', src.configMapRef.name).data);
  for (const e of c.env ?? []) env[e.name] = e.value ?? `<from ${e.valueFrom ? Object.keys(e.valueFrom)[0] : '?'}>`;
  return env;
}

describe('Kubernetes manifests (infra/k8s)', () => {
  beforeAll(async () => {
    // Both are cached under .lakeforge/tools; the first run builds kubeconform and downloads the schema sources.
    await ensureGoTool('kubeconform');
    await ensureK8sSchemas();
  }, 600_000);

  it(`every manifest is valid in strict mode against Kubernetes v${K8S_VERSION} and KEDA CRD schemas`, async () => {
    const { code, report, stderr } = await validateManifests();
    const bad = report.resources.filter((r) => r.status !== 'statusValid');
    expect(bad, JSON.stringify(bad, null, 2) + stderr).toEqual([]);
    expect(code).toBe(0);
    expect(report.summary).toMatchObject({ invalid: 0, errors: 0, skipped: 0 });
    // Every resource was looked at: nothing silently dropped (a file kubeconform could not read, a missing schema).
    const seen = report.resources.map((r) => `${r.kind}/${r.name}`).sort();
    expect(seen).toEqual(all().map((d) => `${d.kind}/${d.metadata.name}`).sort());
    expect(seen).toEqual(expect.arrayContaining([
      'Deployment/lakeforge-etl-worker', 'Deployment/lakeforge-gpu-worker', 'ConfigMap/lakeforge-env',
      'Secret/lakeforge-temporal-tls', 'Secret/lakeforge-temporal-api-key', 'Secret/lakeforge-gcp-credentials',
      'ScaledObject/lakeforge-etl-worker', 'ScaledObject/lakeforge-gpu-worker', 'TriggerAuthentication/lakeforge-temporal',
    ]));
  });

  it('rejects broken copies: a typo in a field, a wrong type, a typo in a KEDA field, an unknown kind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lf-k8s-broken-'));
    const broken = (name: string, from: string, search: RegExp, replace: string) => {
      const text = readFileSync(join(MANIFESTS_DIR, from), 'utf8');
      expect(text, `${from} no longer contains ${search}`).toMatch(search);
      writeFileSync(join(dir, name), text.replace(new RegExp(search.source, 'g'), replace)); // every document of the file
      return join(dir, name);
    };
    const files = [
      broken('typo.yaml', 'etl-worker.yaml', /terminationGracePeriodSeconds:/, 'terminationGracePeriodSecond:'),
      broken('nested-typo.yaml', 'gpu-worker.yaml', /tolerations:/, 'toleration:'),
      broken('type.yaml', 'etl-worker.yaml', /replicas: 2/, 'replicas: two'),
      broken('keda.yaml', 'keda/scaledobjects.yaml', /minReplicaCount:/, 'minReplicas:'),
      broken('kind.yaml', 'configmap.yaml', /kind: ConfigMap/, 'kind: ConfigMapp'),
    ];
    const { code, report } = await validateManifests(files);
    expect(code).not.toBe(0);
    const byFile = (f: string) => report.resources.filter((r) => basename(r.filename) === f);
    const invalid = (f: string, what: RegExp) => {
      const rs = byFile(f);
      expect(rs.length, f).toBeGreaterThan(0);
      for (const r of rs) {
        expect(r.status, `${f}: ${r.msg}`).toBe('statusInvalid');
        expect(r.msg).toMatch(what);
      }
    };
    invalid('typo.yaml', /additional properties 'terminationGracePeriodSecond' not allowed/);
    invalid('nested-typo.yaml', /additional properties 'toleration' not allowed/);
    invalid('type.yaml', /\/spec\/replicas': got string, want null or integer/);
    invalid('keda.yaml', /additional properties 'minReplicas' not allowed/);
    expect(byFile('kind.yaml').map((r) => [r.status, r.msg])).toEqual([['statusError', 'could not find schema for ConfigMapp']]);
    expect(report.summary.valid).toBe(0);
  });

  it('each kustomization lists exactly the manifests beside it', () => {
    const kustomizations = [MANIFESTS_DIR, join(MANIFESTS_DIR, 'keda')];
    for (const dir of kustomizations) {
      const k = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'));
      const files = k.resources.filter((r: string) => r.endsWith('.yaml'));
      for (const r of k.resources) expect(existsSync(join(dir, r)), `${dir}: ${r}`).toBe(true);
      const beside = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
      expect(files.sort(), dir).toEqual(beside.sort());
    }
    // The KEDA overlay is the base plus autoscaling; the base does not need KEDA's CRDs.
    expect(parse(readFileSync(join(MANIFESTS_DIR, 'keda', 'kustomization.yaml'), 'utf8')).resources).toContain('../');
  });

  it('metrics: each worker serves LAKEFORGE_METRICS_PORT, exposes it as a named port and carries the scrape annotations', () => {
    for (const name of ['lakeforge-etl-worker', 'lakeforge-gpu-worker']) {
      const d = find('Deployment', name);
      const port = effectiveEnv(d).LAKEFORGE_METRICS_PORT;
      expect(port, `${name}: LAKEFORGE_METRICS_PORT`).toMatch(/^\d+$/);
      expect(container(d).ports, name).toContainEqual(expect.objectContaining({ name: 'metrics', containerPort: Number(port) }));
      expect(d.spec.template.metadata.annotations, name).toMatchObject({
        'prometheus.io/scrape': 'true', 'prometheus.io/port': port, 'prometheus.io/path': '/metrics',
      });
    }
  });

  it('termination grace covers each worker\'s drain (workers/etl.ts, workers/gpu.ts and LAKEFORGE_TRAINER_GRACE_S)', () => {
    const etlSrc = readFileSync(join(REPO_ROOT, 'workers', 'etl.ts'), 'utf8');
    const gpuSrc = readFileSync(join(REPO_ROOT, 'workers', 'gpu.ts'), 'utf8');
    const etlGrace = /shutdownGraceTime: '(\d+)s'/.exec(etlSrc);
    const gpuExtra = /shutdownGraceTime: graceMs \+ ([\d_]+)/.exec(gpuSrc);
    expect(etlGrace, 'workers/etl.ts shutdownGraceTime changed form: update this test and etl-worker.yaml').not.toBeNull();
    expect(gpuExtra, 'workers/gpu.ts shutdownGraceTime changed form: update this test and gpu-worker.yaml').not.toBeNull();

    const etl = find('Deployment', 'lakeforge-etl-worker');
    expect(etl.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(Number(etlGrace![1]) + 10);

    const gpu = find('Deployment', 'lakeforge-gpu-worker');
    const trainerGraceS = Number(effectiveEnv(gpu).LAKEFORGE_TRAINER_GRACE_S);
    expect(trainerGraceS).toBeGreaterThan(0);
    const workerShutdownS = trainerGraceS + Number(gpuExtra![1].replace(/_/g, '')) / 1000;
    expect(gpu.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(workerShutdownS + 10);
  });

  it('sizing: DuckDB memory below the ETL container limit, threads = CPUs, one GPU slot per GPU', () => {
    const etl = find('Deployment', 'lakeforge-etl-worker');
    const env = effectiveEnv(etl);
    const res = container(etl).resources;
    const duck = bytes(env.LAKEFORGE_DUCKDB_MEMORY);
    const limit = bytes(res.limits.memory);
    const heap = Number(/--max-old-space-size=(\d+)/.exec(env.NODE_OPTIONS ?? '')?.[1] ?? 4096) * 2 ** 20;
    expect(duck + heap, 'DuckDB memory_limit + V8 heap must leave headroom in the container').toBeLessThan(limit * 0.9);
    expect(Number(env.LAKEFORGE_DUCKDB_THREADS)).toBe(Number(res.limits.cpu));
    expect(bytes(res.requests.memory)).toBe(limit); // Guaranteed QoS: not the first evicted under pressure

    const gpu = find('Deployment', 'lakeforge-gpu-worker');
    const spec = gpu.spec.template.spec;
    const gpus = container(gpu).resources.limits['nvidia.com/gpu'];
    expect(Number(gpus)).toBeGreaterThan(0);
    expect(effectiveEnv(gpu).LAKEFORGE_GPUS).toBe(String(gpus));
    expect(spec.tolerations).toEqual(expect.arrayContaining([expect.objectContaining({ key: 'nvidia.com/gpu', operator: 'Exists' })]));
    expect(Object.keys(spec.nodeSelector ?? {}).length).toBeGreaterThan(0);
  });

  it('mounts: every file variable points into a mounted Secret key; $LAKEFORGE_HOME is writable; non-root', () => {
    for (const name of ['lakeforge-etl-worker', 'lakeforge-gpu-worker']) {
      const d = find('Deployment', name);
      const spec = d.spec.template.spec;
      const c = container(d);
      const env = effectiveEnv(d);
      const mountOf = (path: string) => c.volumeMounts.find((m: Obj) => posix.dirname(path) === m.mountPath);
      for (const v of ['TEMPORAL_TLS_CERT', 'TEMPORAL_TLS_KEY', 'TEMPORAL_TLS_CA', 'GOOGLE_APPLICATION_CREDENTIALS']) {
        if (!env[v]) continue;
        const m = mountOf(env[v]);
        expect(m, `${name}: ${v}=${env[v]} is not in a mounted directory`).toBeDefined();
        const vol = spec.volumes.find((x: Obj) => x.name === m.name);
        const secret = find('Secret', vol.secret.secretName);
        expect(Object.keys(secret.stringData ?? secret.data), `${name}: ${v}`).toContain(posix.basename(env[v]));
      }
      const home = env.LAKEFORGE_HOME;
      const writable = c.volumeMounts.filter((m: Obj) => !m.readOnly).map((m: Obj) => m.mountPath);
      for (const sub of name.includes('gpu') ? ['runs', 'staging', 'duckdb-tmp'] : ['staging', 'duckdb-tmp']) {
        expect(writable.some((p: string) => `${home}/${sub}`.startsWith(p)), `${name}: ${home}/${sub} is not writable`).toBe(true);
      }
      expect(writable).toContain('/tmp');
      expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
      expect(spec.securityContext).toMatchObject({ runAsNonRoot: true });
      expect(spec.securityContext.runAsUser).toBeGreaterThan(0);
      // The API key reaches the workers from the Secret, never from the ConfigMap.
      expect(c.env.find((e: Obj) => e.name === 'TEMPORAL_API_KEY')?.valueFrom?.secretKeyRef?.name).toBe('lakeforge-temporal-api-key');
      expect(find('ConfigMap', 'lakeforge-env').data.TEMPORAL_API_KEY).toBeUndefined();
    }
  });

  it("KEDA triggers use only the temporal scaler's parameters, the workers' own queues and environment", async () => {
    const params = JSON.parse(readFileSync(join(await ensureK8sSchemas(), 'crds', 'keda.sh', 'temporal-scaler-params.json'), 'utf8'));
    const known = new Set([...params.triggerMetadata, ...params.resolvedEnv.map((p: string) => `${p}FromEnv`)]);
    const queues: Record<string, string> = { 'lakeforge-etl-worker': TASK_QUEUE_ETL, 'lakeforge-gpu-worker': TASK_QUEUE_GPU };
    const scaled = all().filter((d) => d.kind === 'ScaledObject');
    expect(scaled.map((s) => s.spec.scaleTargetRef.name).sort()).toEqual(Object.keys(queues).sort());
    for (const so of scaled) {
      const target = find('Deployment', so.spec.scaleTargetRef.name);
      const env = effectiveEnv(target);
      for (const t of so.spec.triggers) {
        expect(t.type).toBe('temporal');
        for (const k of Object.keys(t.metadata)) expect(known, `${so.metadata.name}: unknown temporal trigger parameter ${k}`).toContain(k);
        for (const [k, v] of Object.entries(t.metadata)) {
          if (k.endsWith('FromEnv')) expect(env[v as string], `${so.metadata.name}: ${k}=${v} is not in the target's env`).toBeTruthy();
        }
        expect(t.metadata.endpoint ?? t.metadata.endpointFromEnv).toBeTruthy();
        expect(t.metadata.taskQueue).toBe(queues[so.metadata.name]);
        const auth = find('TriggerAuthentication', t.authenticationRef.name);
        for (const ref of auth.spec.secretTargetRef) {
          expect(params.authParams).toContain(ref.parameter);
          expect(Object.keys(find('Secret', ref.name).stringData)).toContain(ref.key);
        }
      }
      expect(so.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
      expect(so.spec.maxReplicaCount).toBeGreaterThan(so.spec.minReplicaCount);
    }
  });

  it('Dockerfiles: every COPY source is in the build context, non-root, production dependencies only', () => {
    const ignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    const dockerDir = join(REPO_ROOT, 'infra', 'docker');
    const files = readdirSync(dockerDir).filter((f) => f.endsWith('.Dockerfile'));
    expect(files.sort()).toEqual(['worker-cpu.Dockerfile', 'worker-cuda.Dockerfile']);
    for (const f of files) {
      const text = readFileSync(join(dockerDir, f), 'utf8').replace(/\\\n/g, ' ');
      for (const [, args] of text.matchAll(/^COPY (?!--from)(.+)$/gm)) {
        const srcs = args.trim().split(/\s+/).slice(0, -1);
        for (const s of srcs) {
          expect(existsSync(join(REPO_ROOT, s)), `${f}: COPY ${s} does not exist`).toBe(true);
          expect(ignore.some((i) => s === i || s.startsWith(`${i}/`)), `${f}: COPY ${s} is excluded by .dockerignore`).toBe(false);
        }
      }
      expect(text).toMatch(/npm(-cli\.js)? ci --omit=dev/);
      const users = [...text.matchAll(/^USER (\S+)/gm)].map((m) => m[1]);
      expect(users.at(-1), f).toMatch(/^[1-9]\d*:[1-9]\d*$/);
      const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]) as string[];
      expect(existsSync(join(REPO_ROOT, cmd[0])), `${f}: CMD ${cmd[0]}`).toBe(true);
    }
    // What the Deployments run is what the images hold.
    for (const [deploy, df] of [['lakeforge-etl-worker', 'worker-cpu.Dockerfile'], ['lakeforge-gpu-worker', 'worker-cuda.Dockerfile']]) {
      const c = container(find('Deployment', deploy));
      expect(c.image).toBe(`lakeforge/${df.replace('.Dockerfile', '')}`);
      expect(existsSync(join(REPO_ROOT, c.args[0]))).toBe(true);
      expect(readFileSync(join(dockerDir, df), 'utf8')).toContain(`LAKEFORGE_HOME=${effectiveEnv(find('Deployment', deploy)).LAKEFORGE_HOME}`);
    }
    // The cuda image's venv is where the GPU activities look for the trainer's python.
    expect(readFileSync(join(dockerDir, 'worker-cuda.Dockerfile'), 'utf8')).toContain('python3 -m venv /var/lib/lakeforge/venv');
    expect(dirname('/var/lib/lakeforge/venv')).toBe(effectiveEnv(find('Deployment', 'lakeforge-gpu-worker')).LAKEFORGE_HOME);
  });
});
