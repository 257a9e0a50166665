#!/usr/bin/env bash
# Checks the deployment artefacts in deploy/ (CI runs it; so can you: bash deploy/check.sh).
#
#   - the Dockerfile's shape, and that .dockerignore keeps every file the build embeds;
#   - the kustomize overlays render (kubectl kustomize; Debian's kubernetes-client when no
#     kubectl is installed), every Kubernetes manifest, rendered or not, validates against the
#     Kubernetes schemas (kubernetes-validate, from PyPI; CRDs such as ServiceMonitor, which it
#     has no schema for, get a structural check), and the rendered objects fit together
#     (selectors, ports, ConfigMaps, probes, security context);
#   - the Kubernetes config file passes `ordergate check`, its mapping copies match mappings/;
#   - the alert rules pass `promtool check rules` and their unit tests (`promtool test rules`);
#   - the Grafana dashboard is well formed and its queries parse as PromQL;
#   - every metric the dashboard and the alerts query exists in the /metrics output of a real
#     gateway (target/debug/ordergate, built if missing) that served requests, upstream failures,
#     mapping errors and reloads.
#
# Installs what it lacks: kubernetes-validate (pip), promtool (Debian's prometheus package),
# kubectl (Debian's kubernetes-client, unpacked into a cache folder). Prints `N passed, N failed`
# and exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPLOY=$ROOT/deploy
K8S=$DEPLOY/kubernetes
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/ordergate-ci"
PY=${PYTHON:-python3}

passed=0
failed=0
pass() { echo "ok    $1"; passed=$((passed + 1)); }
fail() {
  echo "FAIL  $1"
  if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/      /'; fi
  failed=$((failed + 1))
}
skip() { echo "skip  $1"; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
apt_updated=
apt_install() {
  [ "$(id -u)" = 0 ] || return 1
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "$apt_updated" ]; then apt-get update -qq >/dev/null 2>&1; apt_updated=1; fi
  apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! "$PY" -c 'import kubernetes_validate, yaml' >/dev/null 2>&1; then
  echo "== installing kubernetes-validate (PyPI)"
  "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore kubernetes-validate \
    >/dev/null 2>&1 || "$PY" -m pip install --quiet --disable-pip-version-check kubernetes-validate >/dev/null 2>&1
fi
if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (Debian: prometheus)"
  apt_install prometheus
fi

# A kubectl whose `kustomize` works: the installed one, else Debian's kubernetes-client unpacked
# into the cache (not installed, so it cannot clash with another kubectl package).
KUBECTL=
if command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  KUBECTL=$(command -v kubectl)
elif [ -x "$CACHE/kubernetes-client/usr/bin/kubectl" ]; then
  KUBECTL=$CACHE/kubernetes-client/usr/bin/kubectl
elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1; then
  echo "== fetching kubectl (Debian: kubernetes-client)"
  mkdir -p "$CACHE/deb"
  (cd "$CACHE/deb" && { apt-get download kubernetes-client >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get download kubernetes-client >/dev/null 2>&1; }; })
  deb=$(ls "$CACHE"/deb/kubernetes-client_*.deb 2>/dev/null | head -1)
  if [ -n "$deb" ] && dpkg-deb -x "$deb" "$CACHE/kubernetes-client" 2>/dev/null &&
    "$CACHE/kubernetes-client/usr/bin/kubectl" kustomize --help >/dev/null 2>&1; then
    KUBECTL=$CACHE/kubernetes-client/usr/bin/kubectl
  fi
fi

# ---------------------------------------------------------------------------------------------
# The container image
# ---------------------------------------------------------------------------------------------
echo "== container image"
out=$("$PY" - "$DEPLOY/Dockerfile" "$ROOT/.dockerignore" "$ROOT" <<'EOF'
import fnmatch, json, os, re, sys
dockerfile, ignore, root = sys.argv[1:4]
text = open(dockerfile).read()
lines = [l.strip() for l in text.splitlines() if l.strip() and not l.strip().startswith("#")]
problems = []
froms = [l for l in lines if l.upper().startswith("FROM ")]
if len(froms) < 2:
    problems.append("not a multi-stage build (expected a builder and a runtime FROM)")
if not any("cargo build --release --locked" in l for l in lines):
    problems.append("the builder does not run `cargo build --release --locked`")
if froms and not re.search(r"distroless|scratch|chainguard|wolfi", froms[-1]):
    problems.append(f"the runtime image is not minimal: {froms[-1]}")
users = [l for l in lines if l.upper().startswith("USER ")]
if not users or users[-1].split()[1].split(":")[0] in ("0", "root"):
    problems.append("no non-root USER in the runtime stage")
if any(l.upper().startswith("HEALTHCHECK") for l in lines):
    problems.append("HEALTHCHECK present (Kubernetes probes the admin listener instead)")
def instr(name):
    found = [l for l in lines if l.upper().startswith(name + " ")]
    return json.loads(found[-1][len(name) + 1:]) if found else None
if instr("ENTRYPOINT") != ["/ordergate"]:
    problems.append('ENTRYPOINT is not ["/ordergate"]')
if instr("CMD") != ["serve", "--config", "/etc/ordergate/ordergate.yaml"]:
    problems.append('CMD is not ["serve","--config","/etc/ordergate/ordergate.yaml"]')
# .dockerignore must keep every file the build reads: the manifest, the lock file, src/, and
# whatever src/ embeds with include_str!/include_bytes!.
patterns = [l.strip() for l in open(ignore) if l.strip() and not l.startswith("#")]
def ignored(rel):
    verdict = False
    parts = rel.split("/")
    for p in patterns:
        neg = p.startswith("!")
        p = p[1:] if neg else p
        p = p.lstrip("/")
        hit = any(fnmatch.fnmatch("/".join(parts[:i]), p) for i in range(1, len(parts) + 1))
        if p.startswith("**/"):
            hit = hit or any(fnmatch.fnmatch(x, p[3:]) for x in parts)
        if hit:
            verdict = not neg
    return verdict
needed = {"Cargo.toml", "Cargo.lock", "src/main.rs", "src/lib.rs"}
# Cargo runs a build script at the root when there is one (the link settings).
if os.path.exists(os.path.join(root, "build.rs")):
    needed.add("build.rs")
# A profile-guided build trains on the load rig: its scripts, orders and recorded answers.
if "bench/pgo.sh" in text:
    needed |= {"bench/pgo.sh", "bench/rig.sh", "bench/link-order.py"}
    for sub in ("orders", "upstream"):
        for f in os.listdir(os.path.join(root, "bench", sub)):
            needed.add(f"bench/{sub}/{f}")
for d, _, files in os.walk(os.path.join(root, "src")):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(d, f)
        for m in re.finditer(r'include_(?:str|bytes)!\(\s*"([^"]+)"', open(path).read()):
            target = os.path.normpath(os.path.join(d, m.group(1)))
            needed.add(os.path.relpath(target, root))
for n in sorted(needed):
    if not os.path.exists(os.path.join(root, n)):
        problems.append(f"{n}: needed by the build but missing")
    elif ignored(n):
        problems.append(f".dockerignore excludes {n}, which the build needs")
print("\n".join(problems))
EOF
)
if [ -z "$out" ]; then pass "Dockerfile and .dockerignore"; else fail "Dockerfile and .dockerignore" "$out"; fi
# The image's profile-guided build runs these scripts: they must at least parse.
if out=$(bash -n "$ROOT/bench/pgo.sh" 2>&1 && bash -n "$ROOT/bench/rig.sh" 2>&1 &&
  python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' \
    "$ROOT/bench/link-order.py" 2>&1); then
  pass "bench/pgo.sh, bench/rig.sh and bench/link-order.py parse"
else
  fail "bench/pgo.sh, bench/rig.sh and bench/link-order.py parse" "$out"
fi

# ---------------------------------------------------------------------------------------------
# The gateway binary (for `ordergate check` and the /metrics comparison)
# ---------------------------------------------------------------------------------------------
BIN=${ORDERGATE_BIN:-$ROOT/target/debug/ordergate}
if [ -z "${ORDERGATE_BIN:-}" ]; then
  if ! build_log=$(cargo build --quiet --bin ordergate 2>&1); then
    fail "cargo build (the gateway for the checks below)" "$(printf '%s\n' "$build_log" | tail -20)"
  fi
fi

# ---------------------------------------------------------------------------------------------
# The configuration shipped in the ConfigMap
# ---------------------------------------------------------------------------------------------
echo "== Kubernetes configuration"
out=""
for f in "$K8S"/base/etc/*.yaml; do
  name=$(basename "$f")
  [ "$name" = ordergate.yaml ] && continue
  if [ -f "$ROOT/mappings/$name" ] && ! cmp -s "$f" "$ROOT/mappings/$name"; then
    out+="deploy/kubernetes/base/etc/$name differs from mappings/$name (cp mappings/$name deploy/kubernetes/base/etc/)"$'\n'
  fi
done
if [ -z "$out" ]; then pass "mapping copies match mappings/"; else fail "mapping copies match mappings/" "${out%$'\n'}"; fi

# Every ${VAR} the config needs is a key of the example Secret; `ordergate check` passes with them.
vars=$("$PY" - "$K8S/base/etc/ordergate.yaml" "$K8S/base/secret.example.yaml" <<'EOF'
import re, sys, yaml
config, secret = sys.argv[1:3]
need = {m.group(1) for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", open(config).read())}
keys = set((yaml.safe_load(open(secret)).get("stringData") or {}).keys())
missing = sorted(need - keys)
if missing:
    print("MISSING " + " ".join(missing))
else:
    print(" ".join(f"{k}=check-value-0123456789" for k in sorted(need)))
EOF
)
if [[ "$vars" == MISSING* ]]; then
  fail "secret.example.yaml holds every variable etc/ordergate.yaml uses" "${vars#MISSING }"
elif [ -x "$BIN" ]; then
  pass "secret.example.yaml holds every variable etc/ordergate.yaml uses"
  # shellcheck disable=SC2086
  if out=$(env $vars "$BIN" check "$K8S/base/etc/ordergate.yaml" 2>&1); then
    pass "ordergate check deploy/kubernetes/base/etc/ordergate.yaml"
  else
    fail "ordergate check deploy/kubernetes/base/etc/ordergate.yaml" "$out"
  fi
else
  fail "ordergate check deploy/kubernetes/base/etc/ordergate.yaml" "no gateway binary at $BIN"
fi

# ---------------------------------------------------------------------------------------------
# Kubernetes manifests: render, validate, cross-check
# ---------------------------------------------------------------------------------------------
echo "== Kubernetes manifests"
rendered=()
if [ -z "$KUBECTL" ]; then
  skip "kustomize rendering: no kubectl could be found or fetched (Debian's kubernetes-client); only the files themselves are validated"
else
  for dir in "$K8S"/overlays/*/; do
    overlay=$(basename "$dir")
    if err=$("$KUBECTL" kustomize "$dir" 2>&1 >"$WORK/$overlay.yaml"); then
      pass "kustomize renders overlays/$overlay"
      rendered+=("$WORK/$overlay.yaml")
      continue
    fi
    # An old kustomize (Debian's kubectl 1.20 embeds kustomize 2.0) wants `bases:` for folders and
    # `patchesStrategicMerge:`; render a translated copy with it.
    rm -rf "$WORK/legacy" && cp -r "$K8S" "$WORK/legacy"
    "$PY" - "$WORK/legacy" <<'EOF'
import glob, os, sys, yaml
for p in glob.glob(os.path.join(sys.argv[1], "**", "kustomization.yaml"), recursive=True):
    d = yaml.safe_load(open(p))
    here = os.path.dirname(p)
    dirs = [r for r in d.get("resources", []) if os.path.isdir(os.path.join(here, r))]
    if dirs:
        d["resources"] = [r for r in d["resources"] if r not in dirs]
        d["bases"] = dirs
    if "patches" in d:
        d["patchesStrategicMerge"] = [x["path"] for x in d.pop("patches")]
    yaml.safe_dump(d, open(p, "w"))
EOF
    if err2=$("$KUBECTL" kustomize "$WORK/legacy/overlays/$overlay" 2>&1 >"$WORK/$overlay.yaml"); then
      pass "kustomize renders overlays/$overlay (legacy kustomize, translated kustomization)"
      rendered+=("$WORK/$overlay.yaml")
    else
      fail "kustomize renders overlays/$overlay" "$err"$'\n'"$err2"
    fi
  done
fi

# Schema validation of every manifest: the rendered overlays, and each file under
# deploy/kubernetes that is a whole object (not a kustomization, a patch or a config file).
out=$("$PY" - "$K8S" "${rendered[@]}" <<'EOF'
import glob, os, sys, yaml
import kubernetes_validate as kv
k8s, rendered = sys.argv[1], sys.argv[2:]
VERSIONS = ["1.30.0", kv.latest_version()]   # 1.30: the oldest the manifests support (preStop sleep)
CRDS = {"monitoring.coreos.com/v1": {"ServiceMonitor", "PodMonitor", "PrometheusRule"}}
files, patches = [], set()
for p in glob.glob(os.path.join(k8s, "**", "kustomization.yaml"), recursive=True):
    d = yaml.safe_load(open(p)) or {}
    here = os.path.dirname(p)
    for x in d.get("patches", []) + d.get("patchesStrategicMerge", []):
        path = x.get("path") if isinstance(x, dict) else x
        if path:
            patches.add(os.path.normpath(os.path.join(here, path)))
for p in sorted(glob.glob(os.path.join(k8s, "**", "*.yaml"), recursive=True)):
    rel = os.path.relpath(p, k8s)
    if os.path.basename(p) == "kustomization.yaml" or p in patches or "/etc/" in "/" + rel:
        continue
    files.append((rel, p))
files += [("rendered overlays/" + os.path.basename(r)[:-5], r) for r in rendered]
count, problems = 0, []
for label, path in files:
    try:
        docs = [d for d in yaml.safe_load_all(open(path)) if d is not None]
    except yaml.YAMLError as e:
        problems.append(f"{label}: not YAML: {e}")
        continue
    for d in docs:
        if not isinstance(d, dict) or not all(k in d for k in ("apiVersion", "kind", "metadata")) \
                or not (d.get("metadata") or {}).get("name"):
            problems.append(f"{label}: a document lacks apiVersion, kind or metadata.name")
            continue
        what = f"{label}: {d['kind']}/{d['metadata']['name']}"
        count += 1
        if d["kind"] in CRDS.get(d["apiVersion"], ()):
            spec = d.get("spec") or {}
            if d["kind"] == "ServiceMonitor":
                eps = spec.get("endpoints") or []
                if not (spec.get("selector") or {}).get("matchLabels") or not eps \
                        or not all(isinstance(e, dict) and e.get("port") and e.get("path") for e in eps):
                    problems.append(f"{what}: needs spec.selector.matchLabels and endpoints with port and path")
            continue
        for v in VERSIONS:
            try:
                kv.validate(d, v, strict=True)
            except kv.SchemaNotFoundError:
                problems.append(f"{what}: no Kubernetes {v} schema for {d['apiVersion']} {d['kind']} (an unknown CRD?)")
                break
            except kv.ValidationError as e:
                problems.append(f"{what}: invalid for Kubernetes {v}: {e.message} (at {'/'.join(map(str, e.path))})")
                break
print(f"COUNT {count}")
print("\n".join(problems))
EOF
)
count=$(printf '%s\n' "$out" | sed -n 's/^COUNT //p')
problems=$(printf '%s\n' "$out" | grep -v '^COUNT ' | sed '/^$/d')
if [ -z "$problems" ] && [ "${count:-0}" -gt 0 ]; then
  pass "$count Kubernetes objects valid against the Kubernetes schemas (1.30 and latest, strict)"
else
  fail "Kubernetes objects valid against the Kubernetes schemas" "${problems:-no object found}"
fi

# The rendered objects fit together.
if [ ${#rendered[@]} -gt 0 ]; then
  out=$("$PY" - "${rendered[@]}" <<'EOF'
import os, sys, yaml
problems = []
def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
for path in sys.argv[1:]:
    overlay = os.path.basename(path)[:-5]
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    deps = by_kind.get("Deployment", {})
    def err(msg):
        problems.append(f"{overlay}: {msg}")
    if not deps:
        err("no Deployment")
    for name, dep in deps.items():
        spec = dep["spec"]
        tmpl = spec["template"]
        pod = tmpl["spec"]
        if not matches(spec["selector"].get("matchLabels"), tmpl["metadata"].get("labels", {})):
            err(f"Deployment {name}: the selector does not match the pod labels")
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            err(f"Deployment {name}: pod securityContext.runAsNonRoot is not true")
        sa = pod.get("serviceAccountName")
        if sa and sa not in by_kind.get("ServiceAccount", {}):
            err(f"Deployment {name}: ServiceAccount {sa} is not in the overlay")
        for v in pod.get("volumes", []):
            cm = (v.get("configMap") or {}).get("name")
            if cm and cm not in by_kind.get("ConfigMap", {}):
                err(f"Deployment {name}: volume {v['name']} names ConfigMap {cm}, not in the overlay")
        gateways = 0
        for c in pod["containers"]:
            where = f"Deployment {name}, container {c['name']}"
            sc = c.get("securityContext", {})
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            for key, want in (("allowPrivilegeEscalation", False), ("readOnlyRootFilesystem", True)):
                if sc.get(key) is not want:
                    err(f"{where}: securityContext.{key} is not {str(want).lower()}")
            if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                err(f"{where}: capabilities do not drop ALL")
            if seccomp != "RuntimeDefault":
                err(f"{where}: no RuntimeDefault seccomp profile")
            res = c.get("resources", {})
            if not res.get("requests", {}).get("memory") or not res.get("limits", {}).get("memory"):
                err(f"{where}: no memory request and limit")
            ports = {p.get("name") for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
                if isinstance(port, str) and port not in ports:
                    err(f"{where}: {probe} port {port} is not a container port")
            if c["name"] != "ordergate":
                continue
            gateways += 1
            args = c.get("args", [])
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if "--admin" not in args or args[args.index("--admin") + 1] != "0.0.0.0:9090":
                err(f"{where}: not started with --admin 0.0.0.0:9090 (probes and Prometheus need it)")
            if args[:3] != ["serve", "--config", "/etc/ordergate/ordergate.yaml"]:
                err(f"{where}: args do not start with serve --config /etc/ordergate/ordergate.yaml")
            probes = {p: ((c.get(p) or {}).get("httpGet") or {}).get("path") for p in ("livenessProbe", "readinessProbe")}
            if probes != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
                err(f"{where}: probes are {probes}, expected /healthz (liveness) and /readyz (readiness)")
            mounts = {m["mountPath"]: m for m in c.get("volumeMounts", [])}
            if "/etc/ordergate" not in mounts or mounts["/etc/ordergate"].get("subPath"):
                err(f"{where}: /etc/ordergate is not a whole-folder mount (hot reload needs one; subPath never updates)")
            sidecar = len(pod["containers"]) > 1
            listen = env.get("ORDERGATE_LISTEN", "")
            if sidecar and not listen.startswith("127.0.0.1:"):
                err(f"{where}: a sidecar gateway must listen on 127.0.0.1, not {listen!r}")
            if not sidecar and not listen.startswith("0.0.0.0:"):
                err(f"{where}: a standalone gateway must listen on 0.0.0.0, not {listen!r}")
        if gateways != 1:
            err(f"Deployment {name}: expected one `ordergate` container, found {gateways}")
    pods = [(n, d["spec"]["template"]) for n, d in deps.items()]
    for name, svc in by_kind.get("Service", {}).items():
        sel = svc["spec"].get("selector", {})
        hits = [t for _, t in pods if matches(sel, t["metadata"].get("labels", {}))]
        if not hits:
            err(f"Service {name}: its selector matches no pod")
            continue
        names = {p.get("name") for t in hits for c in t["spec"]["containers"] for p in c.get("ports", [])}
        for p in svc["spec"].get("ports", []):
            if isinstance(p.get("targetPort"), str) and p["targetPort"] not in names:
                err(f"Service {name}: targetPort {p['targetPort']} is no container port of its pods")
    for name, sm in by_kind.get("ServiceMonitor", {}).items():
        sel = sm["spec"]["selector"].get("matchLabels", {})
        svcs = [s for s in by_kind.get("Service", {}).values() if matches(sel, s["metadata"].get("labels", {}))]
        if not svcs:
            err(f"ServiceMonitor {name}: selects no Service")
        for e in sm["spec"]["endpoints"]:
            if not any(e["port"] in {p.get("name") for p in s["spec"]["ports"]} for s in svcs):
                err(f"ServiceMonitor {name}: no selected Service has a port named {e['port']}")
            for s in svcs:
                for p in s["spec"]["ports"]:
                    if p.get("name") == e["port"] and p.get("targetPort") not in ("admin", 9090):
                        err(f"ServiceMonitor {name}: port {e['port']} of Service {s['metadata']['name']} is not the admin port")
    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] != "Deployment" or ref["name"] not in deps:
            err(f"HorizontalPodAutoscaler {name}: targets {ref['kind']}/{ref['name']}, not in the overlay")
        elif "replicas" in deps[ref["name"]]["spec"]:
            err(f"HorizontalPodAutoscaler {name}: Deployment {ref['name']} also sets replicas (they would fight)")
    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        if not any(matches(pdb["spec"]["selector"].get("matchLabels"), t["metadata"].get("labels", {})) for _, t in pods):
            err(f"PodDisruptionBudget {name}: selects no pod")
    if overlay == "standalone":
        for kind in ("Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"):
            if not by_kind.get(kind):
                err(f"no {kind}")
    if overlay == "sidecar" and not any(len(t["spec"]["containers"]) > 1 for _, t in pods):
        err("no pod with an app container beside the gateway")
print("\n".join(problems))
EOF
)
  if [ -z "$out" ]; then pass "rendered objects fit together (selectors, ports, ConfigMaps, probes, security)"; else fail "rendered objects fit together" "$out"; fi
fi

# ---------------------------------------------------------------------------------------------
# Alert rules and dashboard
# ---------------------------------------------------------------------------------------------
echo "== alerts and dashboard"
if ! command -v promtool >/dev/null 2>&1; then
  fail "promtool check rules deploy/prometheus/alerts.yaml" "promtool is not installed and could not be (Debian: prometheus)"
else
  if out=$(promtool check rules "$DEPLOY/prometheus/alerts.yaml" 2>&1); then
    pass "promtool check rules deploy/prometheus/alerts.yaml"
  else
    fail "promtool check rules deploy/prometheus/alerts.yaml" "$out"
  fi
  if out=$(cd "$DEPLOY/prometheus" && promtool test rules alerts_test.yaml 2>&1); then
    pass "promtool test rules deploy/prometheus/alerts_test.yaml"
  else
    fail "promtool test rules deploy/prometheus/alerts_test.yaml" "$out"
  fi
fi

# The dashboard: JSON, a ${datasource} Prometheus variable used by every query, unique panel
# ids; its queries (Grafana variables replaced) written as recording rules for promtool to parse.
out=$("$PY" - "$DEPLOY/grafana/ordergate.json" "$WORK/dashboard-rules.yaml" <<'EOF'
import json, sys, yaml
path, rules_out = sys.argv[1:3]
problems, exprs = [], []
try:
    dash = json.load(open(path))
except ValueError as e:
    print(f"not JSON: {e}")
    sys.exit()
if not isinstance(dash.get("schemaVersion"), int) or dash["schemaVersion"] < 36:
    problems.append("schemaVersion missing or older than 36")
tvars = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
ds = tvars.get("datasource")
if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
    problems.append("no `datasource` variable of type datasource with query prometheus")
ids = set()
def walk(panels):
    for p in panels:
        if p.get("id") in ids:
            problems.append(f"duplicate panel id {p.get('id')}")
        ids.add(p.get("id"))
        g = p.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            problems.append(f"panel {p.get('title')!r} is wider than the grid")
        for t in p.get("targets", []):
            if (t.get("datasource") or p.get("datasource") or {}).get("uid") != "${datasource}":
                problems.append(f"panel {p.get('title')!r}: a query does not use ${{datasource}}")
            if t.get("expr"):
                exprs.append((p.get("title"), t["expr"]))
        walk(p.get("panels", []))
walk(dash.get("panels", []))
for a in dash.get("annotations", {}).get("list", []):
    if a.get("expr"):
        exprs.append(("annotation " + a.get("name", ""), a["expr"]))
if not exprs:
    problems.append("no queries")
def concrete(e):
    for var, val in (("$__rate_interval", "5m"), ("$__interval", "1m"), ("$__range", "1h"),
                     ("$job", ".*"), ("$connection", ".*")):
        e = e.replace(var, val)
    return e
rules = [{"record": f"dashboard:query_{i}", "expr": concrete(e)} for i, (_, e) in enumerate(exprs)]
yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(rules_out, "w"))
print("\n".join(problems))
EOF
)
if [ -z "$out" ]; then pass "deploy/grafana/ordergate.json is a well-formed dashboard"; else fail "deploy/grafana/ordergate.json is a well-formed dashboard" "$out"; fi
if command -v promtool >/dev/null 2>&1 && [ -f "$WORK/dashboard-rules.yaml" ]; then
  if out=$(promtool check rules "$WORK/dashboard-rules.yaml" 2>&1); then
    pass "every dashboard query parses as PromQL"
  else
    fail "every dashboard query parses as PromQL" "$out"
  fi
fi

# ---------------------------------------------------------------------------------------------
# Every metric the dashboard and the alerts query exists in a real gateway's /metrics
# ---------------------------------------------------------------------------------------------
echo "== metrics used vs the gateway's /metrics"
if [ ! -x "$BIN" ]; then
  fail "metrics used by the dashboard and the alerts exist" "no gateway binary at $BIN"
else
  out=$("$PY" - "$BIN" "$ROOT" "$WORK" "$DEPLOY/grafana/ordergate.json" "$DEPLOY/prometheus/alerts.yaml" <<'EOF'
import http.server, json, os, re, socket, subprocess, sys, threading, time, urllib.request, yaml
binary, root, work, dashboard, alerts = sys.argv[1:6]

# A fake ERP answering every call with a Frappe document the dokos mapping cannot read
# (docstatus 7 has no canonical status): upstream responses and a response mapping error.
class Erp(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        body = b'{"data": {"name": "SO-1", "docstatus": 7}}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = answer
    def log_message(self, *a):
        pass
erp = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Erp)
threading.Thread(target=erp.serve_forever, daemon=True).start()
s = socket.socket(); s.bind(("127.0.0.1", 0)); closed_port = s.getsockname()[1]; s.close()

config = os.path.join(work, "gateway", "ordergate.yaml")
os.makedirs(os.path.dirname(config), exist_ok=True)
good = f"""listen: 127.0.0.1:0
default_connection: erp
mappings: [{os.path.join(root, 'mappings', 'dokos.yaml')}]
connections:
  erp:
    vendor: dokos
    base_url: http://127.0.0.1:{erp.server_address[1]}
    secrets: {{ api_key: k, api_secret: s }}
  down:
    vendor: dokos
    base_url: http://127.0.0.1:{closed_port}
    secrets: {{ api_key: k, api_secret: s }}
    timeouts: {{ connect: 1s, request: 2s }}
"""
open(config, "w").write(good)
log = open(os.path.join(work, "gateway.log"), "w+")
env = dict(os.environ, ORDERGATE_LOG="warn")
gw = subprocess.Popen([binary, "serve", "--config", config, "--listen", "127.0.0.1:0",
                       "--admin", "127.0.0.1:0"], stderr=log, stdout=subprocess.DEVNULL, env=env)
def fail(msg):
    log.seek(0)
    print("ERROR " + msg + "\n" + log.read()[-3000:])
    gw.kill()
    sys.exit()
public = admin = None
deadline = time.time() + 60
while time.time() < deadline and not admin:
    if gw.poll() is not None:
        fail("the gateway exited at start")
    log.seek(0)
    text = log.read()
    m = re.search(r"ordergate listening on http://(\S+)", text)
    public = m.group(1) if m else None
    m = re.search(r"ordergate admin on http://(\S+)", text)
    admin = m.group(1) if m else None
    time.sleep(0.1)
if not admin or not public:
    fail("no `ordergate admin on http://ADDR` on stderr within 60 s")

def call(method, url, body=None):
    req = urllib.request.Request(url, method=method, data=body,
                                 headers={"content-type": "application/json"} if body else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

try:
    # requests, upstream answers, a response mapping error
    call("GET", f"http://{public}/v1/orders/SO-1")
    # a request mapping error (Dokos computes payment_status itself)
    call("PATCH", f"http://{public}/v1/orders/SO-1", b'{"payment_status": "paid"}')
    # an upstream failure (connection refused)
    call("GET", f"http://{public}/v1/connections/down/orders/SO-1")
    # a successful reload, then a refused one
    status, _ = call("POST", f"http://{admin}/admin/reload")
    if status != 200:
        fail(f"POST /admin/reload answered {status} on a valid configuration")
    open(config, "w").write("connections: 42\n")
    status, _ = call("POST", f"http://{admin}/admin/reload")
    if status != 422:
        fail(f"POST /admin/reload answered {status} on an invalid configuration, expected 422")
    open(config, "w").write(good)
    _, metrics = call("GET", f"http://{admin}/metrics")
finally:
    gw.terminate()
    try:
        gw.wait(10)
    except subprocess.TimeoutExpired:
        gw.kill()
    erp.shutdown()

metrics = metrics.decode()
families = {}
for line in metrics.splitlines():
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        families[m.group(1)] = m.group(2)
samples = {re.split(r"[{ ]", l, 1)[0] for l in metrics.splitlines() if l and not l.startswith("#")}

NAME = re.compile(r"\bordergate_[A-Za-z0-9_]+")
used = {}
dash = json.load(open(dashboard))
def walk(node, where):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "query", "definition") and isinstance(v, str):
                for n in NAME.findall(v):
                    used.setdefault(n, set()).add(where)
            else:
                walk(v, where)
    elif isinstance(node, list):
        for v in node:
            walk(v, where)
walk(dash, "dashboard")
for g in yaml.safe_load(open(alerts))["groups"]:
    for r in g["rules"]:
        for n in NAME.findall(r["expr"]):
            used.setdefault(n, set()).add("alert " + r.get("alert", r.get("record", "?")))
missing = []
for n in sorted(used):
    base = re.sub(r"_(bucket|count|sum)$", "", n)
    if n in samples and (n in families or families.get(base) in ("histogram", "summary")):
        continue
    if n in families and families[n] not in ("histogram", "summary"):
        continue
    missing.append(f"{n} (used by {', '.join(sorted(used[n]))})")
print(f"USED {len(used)} {len(families)}")
for m in missing:
    print("MISSING " + m)
EOF
)
  if grep -q '^ERROR ' <<<"$out"; then
    fail "metrics used by the dashboard and the alerts exist in /metrics" "$(sed 's/^ERROR //' <<<"$out")"
  elif grep -q '^MISSING ' <<<"$out"; then
    fail "metrics used by the dashboard and the alerts exist in /metrics" "$(sed -n 's/^MISSING //p' <<<"$out")"
  elif read -r _ used fams < <(grep '^USED ' <<<"$out") && [ "${used:-0}" -gt 0 ]; then
    pass "all $used metric names used by the dashboard and the alerts are in /metrics ($fams families exposed)"
  else
    fail "metrics used by the dashboard and the alerts exist in /metrics" "no metric name found in the dashboard or the alerts"$'\n'"$out"
  fi
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
