# Pieces bench/load.sh, bench/callgrind.sh and bench/pgo.sh share (sourced; the caller defines
# `die` and sets BENCH, the bench folder, and ROOT, the repository).

# vendor -> its create path at the ERP (for the proxy, the bare proxy and direct runs)
declare -A VPATH=([dokos]="/api/resource/Sales%20Order" [mrdoc-xml]="/api/1/DocSaleOrder.xml" [valomnia]="/api/v2.1/orders")

# NGINX: the nginx binary (Debian's is in /usr/sbin), or the caller dies.
find_nginx() {
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    [[ -x $NGINX ]] || die "nginx is missing (apt-get install nginx-light)"
}

# TMP: a scratch folder, removed at exit after every process in PIDS is stopped.
scratch() { # name
    TMP=$(mktemp -d "/tmp/ordergate-$1.XXXXXX")
    PIDS=()
    trap scratch_cleanup EXIT
}
scratch_cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}

# The requests of a wrk run (its RESULT line, write_post_lua's); the caller dies, showing the
# output and the server's log, unless every request got a 2xx.
wrk_requests() { # wrk output file, server log
    local requests non2xx errors
    read -r requests non2xx errors <<<"$(awk '/^RESULT/ {print $2, $6, $7}' "$1")"
    if [[ ${non2xx:-1} != 0 || ${errors:-1} != 0 || ${requests:-0} == 0 ]]; then
        cat "$1" >&2
        tail -20 "$2" >&2
        die "the requests failed"
    fi
    echo "$requests"
}

# The stand-in ERP started on a free port UP, and the gateway's config for it in TMP/gw.
start_upstream() {
    UP=$(free_port)
    write_upstream_conf "$TMP/up" "$UP"
    write_gateway_conf "$TMP/gw" "$UP"
    "$NGINX" -p "$TMP/up" -c "$TMP/up/nginx.conf" -g 'daemon off;' &
    PIDS+=($!)
    wait_port "$UP"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # port: bounded wait, 30 s (a server under valgrind starts slowly)
    local i
    for ((i = 0; i < 300; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "nothing listens on port $1"
}

nginx_text() { # file -> nginx single-quoted string
    local s
    s=$(cat "$1")
    [[ $s != *'$'* ]] || die "$1 holds a \$ (nginx would read a variable)"
    s=${s//\\/\\\\}
    s=${s//\'/\\\'}
    printf "'%s'" "$s"
}

# The ERP stand-in: nginx answering each vendor's recorded create answer (bench/upstream/, and
# Valomnia's login with a JSESSIONID cookie) from memory. Writes DIR/nginx.conf for PORT.
write_upstream_conf() { # dir port
    local dir=$1 port=$2
    mkdir -p "$dir/logs"
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 65536;
events { worker_connections 16384; }
http {
    access_log off;
    types { }
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    client_body_buffer_size 64k;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location = "/api/resource/Sales Order" {
            default_type application/json;
            return 200 $(nginx_text "$BENCH/upstream/dokos.json");
        }
        location = /api/1/DocSaleOrder.xml {
            default_type "application/xml; charset=utf-8";
            return 200 $(nginx_text "$BENCH/upstream/mrdoc.xml");
        }
        location = /j_spring_security_check {
            default_type application/json;
            add_header Set-Cookie "JSESSIONID=9A1F3C5E7B2D4F60; Path=/; HttpOnly" always;
            return 200 $(nginx_text "$BENCH/upstream/valomnia-login.json");
        }
        location = /api/v2.1/orders {
            default_type application/json;
            return 201 $(nginx_text "$BENCH/upstream/valomnia.json");
        }
        location / { return 404; }
    }
}
EOF
}

# The gateway's config and a copy of the mappings, alone in DIR: ordergate watches the folder
# (recursively) and reloads on any change, so no log may be written there, and edits to the
# working tree during a run do not reach the gateway. Connections dokos (JSON), mrdoc-xml (XML)
# and valomnia (form), all on the upstream at UP_PORT.
write_gateway_conf() { # dir up_port
    local dir=$1 up=$2
    mkdir -p "$dir"
    cp -r "$ROOT/mappings" "$dir/mappings"
    cat >"$dir/ordergate.yaml" <<EOF
default_connection: dokos
mappings: [mappings]
connections:
  dokos:
    vendor: dokos
    base_url: http://127.0.0.1:$up
    secrets: { api_key: bench-key, api_secret: bench-secret }
    settings: { company: Gateway Test GmbH }
  mrdoc-xml:
    vendor: mrdoc
    base_url: http://127.0.0.1:$up
    secrets: { login: api-user, password: s3cret }
    settings: { format: xml, organization_id: 1, price_type_id: 2 }
  valomnia:
    vendor: valomnia
    base_url: http://127.0.0.1:$up
    secrets: { username: gateway, password: secret-pass }
    settings: { timezone: UTC }
EOF
}

# wrk's script: POSTs the file ORDER_FILE names; at the end prints
# `RESULT requests duration_us p50_us p99_us non2xx errors`.
write_post_lua() { # file
    cat >"$1" <<'EOF'
local f = assert(io.open(os.getenv("ORDER_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
        latency:percentile(50), latency:percentile(99), e.status,
        e.connect + e.read + e.write + e.timeout))
end
EOF
}
