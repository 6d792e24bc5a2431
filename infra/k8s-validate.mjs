// Offline schema validation of the production manifests in infra/k8s with kubeconform.
//
// kubeconform fetches its JSON schemas from GitHub by default, which this project cannot reach. The schemas come
// from two registries instead, pinned and cached under $LAKEFORGE_HOME/tools/k8s-schemas-…/:
//   - Kubernetes: the PyPI package kubernetes-validate ships the JSON schemas of every Kubernetes version it
//     supports (draft 2020-12, strict variants, `$ref`s into one shared `_definitions.json` by an https `$id`).
//     `pip download` fetches the wheel (sha256-checked here), and each top-level kind of K8S_VERSION is rewritten
//     into a self-contained schema (the definitions it reaches inlined under `$defs`), in kubeconform's
//     `<version>-standalone-strict/<kind>-<group>-<version>.json` layout, so no `$ref` leaves the file.
//   - KEDA: the Go module github.com/kedacore/keda/v2 carries its CRDs (config/crd/bases); `go mod download`
//     fetches it (checked against the Go checksum database) and each CRD version's openAPIV3Schema becomes a
//     strict JSON schema, as kubeconform's openapi2jsonschema does, at `crds/<group>/<kind>_<version>.json`.
//
//   node infra/k8s-validate.mjs [files…]   # default: every manifest under infra/k8s; exit 0 only if all are valid
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, ensureGoTool, lakeforgeHome, runVisible } from './tools.mjs';

/** The Kubernetes version the manifests are validated against (kubeconform -kubernetes-version). */
export const K8S_VERSION = '1.33.0';

export const SCHEMA_SOURCES = {
  kubernetes: {
    pypi: 'kubernetes-validate',
    version: '1.37.0',
    wheel: 'kubernetes_validate-1.37.0-py3-none-any.whl',
    sha256: '85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9',
  },
  keda: {
    module: 'github.com/kedacore/keda/v2',
    // The temporal scaler exists since KEDA 2.17; this is the newest release the module proxy serves.
    version: 'v2.21.0',
    crds: ['keda.sh_scaledobjects.yaml', 'keda.sh_triggerauthentications.yaml', 'keda.sh_clustertriggerauthentications.yaml', 'keda.sh_scaledjobs.yaml'],
  },
};

/** Bumped when what ensureK8sSchemas writes changes, so a cached tree of the old layout is rebuilt. */
const LAYOUT = 1;

export const MANIFESTS_DIR = join(REPO_ROOT, 'infra', 'k8s');

const log0 = (m) => process.stderr.write(`${m}\n`);

export function schemasDir(env = process.env) {
  const { kubernetes: k, keda } = SCHEMA_SOURCES;
  return join(lakeforgeHome(env), 'tools', `k8s-schemas-r${LAYOUT}-v${K8S_VERSION}-kv${k.version}-keda-${keda.version}`);
}

/** Captures a command's stdout; stderr is passed through. */
function capture(cmd, args, opts = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], ...opts });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolvePromise(out) : reject(new Error(`${cmd} ${args.join(' ')} exited with ${code ?? signal}`)));
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Kubernetes: kubernetes-validate's schemas → self-contained kubeconform schemas

const DEFS_REF = /^(?:\/api\/_definitions\.json)?#\/\$defs\/(.+)$/;

/** Rewrites every `$ref` into the shared definitions to a local `#/$defs/…`, collecting the names it reaches. */
function localizeRefs(node, reached) {
  if (Array.isArray(node)) return node.map((n) => localizeRefs(n, reached));
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$ref' && typeof v === 'string') {
      const m = DEFS_REF.exec(v);
      if (!m) throw new Error(`unexpected $ref ${v}`);
      reached.push(m[1]);
      out[k] = `#/$defs/${m[1]}`;
    } else {
      out[k] = localizeRefs(v, reached);
    }
  }
  return out;
}

/** One top-level kind's schema with the definitions it reaches (transitively) inlined. */
export function standaloneSchema(kindSchema, definitions) {
  const { $id: _id, ...rest } = kindSchema;
  const queue = [];
  const root = localizeRefs(rest, queue);
  const $defs = {};
  while (queue.length) {
    const name = queue.pop();
    if (name in $defs) continue;
    const def = definitions[name];
    if (!def) throw new Error(`definition ${name} is missing`);
    $defs[name] = localizeRefs(def, queue);
  }
  return { ...root, $defs };
}

async function prepareKubernetes(out, { log, env }) {
  const src = SCHEMA_SOURCES.kubernetes;
  const dl = join(out, '.download');
  mkdirSync(dl, { recursive: true });
  // The trainer venv's pip when there is one (the bootstrap makes it first), else the system python's.
  const venvPy = join(lakeforgeHome(env), 'venv', 'bin', 'python');
  const python = existsSync(venvPy) ? venvPy : (env.PYTHON ?? 'python3');
  log(`[lakeforge] Kubernetes JSON schemas: pip download ${src.pypi}==${src.version}`);
  await runVisible(python, ['-m', 'pip', 'download', '--disable-pip-version-check', '--quiet', '--no-deps', '--only-binary=:all:', '-d', dl, `${src.pypi}==${src.version}`]);
  const wheel = join(dl, src.wheel);
  const sha = createHash('sha256').update(readFileSync(wheel)).digest('hex');
  if (sha !== src.sha256) throw new Error(`${src.wheel}: sha256 ${sha}, expected ${src.sha256}`);
  // Only this version's strict schemas (3 MB of the wheel's 16,000 files).
  const prefix = `kubernetes_validate/kubernetes-json-schema/v${K8S_VERSION}-local-strict/`;
  const unpacked = join(dl, 'unpacked');
  await runVisible(python, ['-c',
    'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nfor n in z.namelist():\n    if n.startswith(sys.argv[2]): z.extract(n, sys.argv[3])',
    wheel, prefix, unpacked]);
  const srcDir = join(unpacked, prefix);
  const definitions = JSON.parse(readFileSync(join(srcDir, '_definitions.json'), 'utf8')).$defs;
  const target = join(out, 'kubernetes', `v${K8S_VERSION}-standalone-strict`);
  mkdirSync(target, { recursive: true });
  let kinds = 0;
  for (const f of readdirSync(srcDir)) {
    if (!f.endsWith('.json') || f === '_definitions.json' || f === 'all.json') continue;
    const schema = JSON.parse(readFileSync(join(srcDir, f), 'utf8'));
    if (!schema['x-kubernetes-group-version-kind']) continue; // a definition, not something one applies
    writeFileSync(join(target, f), JSON.stringify(standaloneSchema(schema, definitions)));
    kinds++;
  }
  if (kinds < 50) throw new Error(`only ${kinds} Kubernetes kinds found under ${prefix}`);
  rmSync(dl, { recursive: true, force: true });
  return kinds;
}

// ---------------------------------------------------------------------------------------------------------------
// KEDA: CRD openAPIV3Schema → strict JSON schema (what kubeconform's openapi2jsonschema.py does)

export function crdSchemaToJsonSchema(node, strict = true) {
  if (Array.isArray(node)) return node.map((n) => crdSchemaToJsonSchema(n, strict));
  if (!node || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) {
    out[k] = k === 'properties' || k === 'patternProperties' || k === 'definitions'
      ? Object.fromEntries(Object.entries(v).map(([name, s]) => [name, crdSchemaToJsonSchema(s, strict)]))
      : crdSchemaToJsonSchema(v, strict);
  }
  if (out['x-kubernetes-int-or-string']) {
    delete out.type;
    out.oneOf = [{ type: 'string' }, { type: 'integer' }];
  }
  if (out.nullable === true && typeof out.type === 'string') out.type = [out.type, 'null'];
  if (strict && out.properties && !('additionalProperties' in out) && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

async function prepareKeda(out, { log, env }) {
  const src = SCHEMA_SOURCES.keda;
  log(`[lakeforge] KEDA CRD schemas: go mod download ${src.module}@${src.version}`);
  const info = JSON.parse(await capture('go', ['mod', 'download', '-json', `${src.module}@${src.version}`], { cwd: out, env }));
  if (info.Error) throw new Error(`go mod download ${src.module}@${src.version}: ${info.Error}`);
  const { parse } = await import('yaml'); // node_modules exist by now (the bootstrap installs them first)
  let n = 0;
  for (const file of src.crds) {
    const crd = parse(readFileSync(join(info.Dir, 'config', 'crd', 'bases', file), 'utf8'));
    const { group, names } = crd.spec;
    mkdirSync(join(out, 'crds', group), { recursive: true });
    for (const v of crd.spec.versions) {
      const schema = { $schema: 'http://json-schema.org/draft-07/schema#', ...crdSchemaToJsonSchema(v.schema.openAPIV3Schema) };
      // The CRD leaves apiVersion and kind free; a typo there must not pass.
      schema.properties.apiVersion = { type: 'string', enum: [`${group}/${v.name}`] };
      schema.properties.kind = { type: 'string', enum: [names.kind] };
      schema.required = [...new Set([...(schema.required ?? []), 'apiVersion', 'kind', 'metadata'])];
      writeFileSync(join(out, 'crds', group, `${names.kind.toLowerCase()}_${v.name}.json`), JSON.stringify(schema));
      n++;
    }
  }
  // The temporal scaler's parameters as this KEDA release declares them (`keda:"name=…, order=…"` struct tags), so
  // a test can hold the trigger metadata, which the CRD leaves free-form, to names the scaler reads.
  const go = readFileSync(join(info.Dir, 'pkg', 'scalers', 'temporal_scaler.go'), 'utf8');
  const params = { triggerMetadata: [], resolvedEnv: [], authParams: [] };
  for (const [, name, order] of go.matchAll(/keda:"name=(\w+),\s*order=([\w;]+)/g)) {
    for (const o of order.split(';')) params[o]?.push(name);
  }
  if (params.triggerMetadata.length < 5) throw new Error(`could not read the temporal scaler's parameters from ${info.Dir}`);
  writeFileSync(join(out, 'crds', 'keda.sh', 'temporal-scaler-params.json'), JSON.stringify(params, null, 2));
  return n;
}

/** Prepares (once per pinned version set) the schema tree kubeconform reads; returns its directory. */
export async function ensureK8sSchemas({ log = log0, env = process.env } = {}) {
  const dir = schemasDir(env);
  if (existsSync(join(dir, '.complete'))) return dir;
  const started = Date.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const kinds = await prepareKubernetes(tmp, { log, env });
    const crds = await prepareKeda(tmp, { log, env });
    writeFileSync(join(tmp, '.complete'), JSON.stringify({ K8S_VERSION, SCHEMA_SOURCES, kinds, crds }, null, 2));
    log(`[lakeforge] k8s schemas: ${kinds} Kubernetes kinds (v${K8S_VERSION}), ${crds} KEDA CRD versions in ${((Date.now() - started) / 1000).toFixed(0)}s → ${dir}`);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}

/** kubeconform, strict, against the prepared schemas only: a kind with no schema is an error, nothing is fetched. */
export function kubeconformArgs(schemas) {
  return [
    '-strict', '-summary', '-verbose', '-output', 'json', '-kubernetes-version', K8S_VERSION,
    '-schema-location', join(schemas, 'kubernetes', '{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}', '{{ .ResourceKind }}{{ .KindSuffix }}.json'),
    '-schema-location', join(schemas, 'crds', '{{ .Group }}', '{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'),
  ];
}

/**
 * Every manifest under infra/k8s (recursively). kustomization.yaml is not a resource the API server accepts but
 * kustomize's build file; there is no schema for it in either source, so it is left to the test's own check that it
 * lists exactly the manifests beside it.
 */
export function manifestFiles(dir = MANIFESTS_DIR) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...manifestFiles(p));
    else if (/\.ya?ml$/.test(e.name) && basename(e.name, '.yaml') !== 'kustomization') out.push(p);
  }
  return out.sort();
}

/** Runs kubeconform over `files`: its exit code and its parsed JSON report. */
export async function validateManifests(files = manifestFiles(), { log = log0, env = process.env } = {}) {
  const bin = await ensureGoTool('kubeconform', { log, env });
  const schemas = await ensureK8sSchemas({ log, env });
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, [...kubeconformArgs(schemas), ...files], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('exit', (code) => {
      let report;
      try { report = JSON.parse(stdout); } catch { return reject(new Error(`kubeconform printed no JSON report (exit ${code}): ${stderr || stdout}`)); }
      resolvePromise({ code, report, stderr });
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = process.argv.slice(2);
  const { code, report } = await validateManifests(files.length ? files : undefined);
  for (const r of report.resources ?? []) {
    const where = `${relative(process.cwd(), r.filename)}: ${r.kind}/${r.name}`;
    console.log(`${r.status.replace('status', '').toUpperCase().padEnd(7)} ${where}${r.msg ? ` — ${r.msg}` : ''}`);
    for (const e of r.validationErrors ?? []) console.log(`          ${e.path}: ${e.msg}`);
  }
  const s = report.summary;
  console.log(`${s.valid} valid, ${s.invalid} invalid, ${s.errors} errors, ${s.skipped} skipped`);
  process.exitCode = code;
}
