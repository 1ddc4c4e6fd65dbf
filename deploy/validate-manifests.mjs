#!/usr/bin/env node
// Renders deploy/kubernetes (the base and every overlay) with `kubectl kustomize` and validates each rendered object
// against its schema: Kubernetes' own (kubernetes-models) and KEDA's CRDs (@kubernetes-models/keda). Offline: no API
// server is involved, so it runs in CI and before a commit.
//
//   npm ci --prefix deploy && node deploy/validate-manifests.mjs            # one line per object, exit 1 on any error
//   node deploy/validate-manifests.mjs --json                               # the rendered objects and errors, as JSON
//   node deploy/validate-manifests.mjs deploy/kubernetes/overlays/tls       # only these kustomizations
//
// An object of a kind with no schema here is an error, not a pass: every rendered object must have been checked.
import { execFileSync } from "node:child_process";
import { readdirSync, existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "kubernetes");

// apiVersion -> the package (and folder in it) whose models cover that group and version.
const packages = {
  "keda.sh/v1alpha1": "@kubernetes-models/keda/keda.sh/v1alpha1",
};

function modulePath(apiVersion) {
  if (packages[apiVersion]) return packages[apiVersion];
  // "v1" is the core group; "apps/v1", "policy/v1", "autoscaling/v2" are folders of kubernetes-models.
  return `kubernetes-models/${apiVersion}`;
}

async function validate(object) {
  const { apiVersion, kind } = object ?? {};
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    return ["no apiVersion or kind"];
  }
  let Model;
  try {
    Model = (await import(`${modulePath(apiVersion)}/${kind}`))[kind];
  } catch {
    return [`no schema for ${apiVersion} ${kind}`];
  }
  if (typeof Model !== "function") return [`no schema for ${apiVersion} ${kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [String(error.message ?? error)];
  }
}

function kustomizations(args) {
  const listed = args.filter((a) => !a.startsWith("--"));
  if (listed.length > 0) return listed;
  const overlays = join(root, "overlays");
  return [
    join(root, "base"),
    ...readdirSync(overlays, { withFileTypes: true })
      .filter((d) => d.isDirectory() && existsSync(join(overlays, d.name, "kustomization.yaml")))
      .map((d) => join(overlays, d.name))
      .sort(),
  ];
}

const args = process.argv.slice(2);
const json = args.includes("--json");
const report = {};
let failed = false;

for (const dir of kustomizations(args)) {
  const name = relative(root, dir) || dir;
  const entry = { objects: [], errors: [] };
  report[name] = entry;
  let rendered;
  try {
    rendered = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    entry.errors.push(`kubectl kustomize failed: ${String(error.stderr || error.message).trim()}`);
    failed = true;
    continue;
  }
  for (const document of parseAllDocuments(rendered)) {
    if (document.errors.length > 0) {
      entry.errors.push(...document.errors.map((e) => `YAML: ${e.message}`));
      failed = true;
      continue;
    }
    const object = document.toJS();
    if (object === null) continue;
    const errors = await validate(object);
    const id = `${object.kind}/${object.metadata?.name}`;
    entry.objects.push(object);
    entry.errors.push(...errors.map((e) => `${id}: ${e}`));
    failed ||= errors.length > 0;
    if (!json) console.log(`${errors.length === 0 ? "ok     " : "INVALID"} ${name} ${object.apiVersion} ${id}${errors.length ? `: ${errors.join("; ")}` : ""}`);
  }
  if (entry.objects.length === 0) {
    entry.errors.push(`${name} rendered no objects`);
    failed = true;
  }
}

if (!json) {
  // Objects were reported as they were checked; these are the errors of a whole kustomization (render, YAML, empty).
  for (const [name, entry] of Object.entries(report)) {
    for (const error of entry.errors.filter((e) => !/^[A-Za-z]+\/[^:]*: /.test(e))) console.log(`INVALID ${name}: ${error}`);
  }
}

if (json) console.log(JSON.stringify(report, null, 2));
process.exit(failed ? 1 : 0);
