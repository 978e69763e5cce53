# Shared by scripts/s3-tests.sh and scripts/bench-s3.sh (source it, do not run it): free ports,
# starting `strata dev` with its S3 listener and reading the endpoint and key pair it announces,
# and starting s3s-fs, a local-disk S3 server used as a stand-in and as the benchmark ceiling.
#
# How `strata dev` announces S3 is read in ONE place, s3_parse_announcement below: lines like
#   s3 endpoint: http://127.0.0.1:9000
#   s3 region: us-east-1          (optional; us-east-1 when absent)
#   s3 access key: AKIA...
#   s3 secret key: ...
# on its stdout, or the key pair from <data-dir>/s3-credentials (AWS shared-credentials style:
# aws_access_key_id = / aws_secret_access_key =). If the format changes, change that function.

# Prints the first port P such that P .. P+count-1 are all free on 127.0.0.1.
s3_free_ports() {
    python3 - "$1" <<'EOF'
import random, socket, sys
count = int(sys.argv[1])
for _ in range(1000):
    base = random.randrange(20000, 45000 - count)
    socks = []
    try:
        for p in range(base, base + count):
            s = socket.socket()
            s.bind(("127.0.0.1", p))
            socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("no free port range found")
EOF
}

# Prints four lines, endpoint / region / access key / secret key, from the files given (strata
# dev's output, then its credentials file); fails if the endpoint or a key is missing.
s3_parse_announcement() {
    python3 - "$@" <<'EOF'
import re, sys
patterns = {
    "endpoint": r"^\s*s3[ _-]*(?:endpoint|url)\s*[:=]\s*(\S+)",
    "region": r"^\s*s3[ _-]*region\s*[:=]\s*(\S+)",
    "access": r"^\s*(?:s3[ _-]*access[ _-]*key(?:[ _-]*id)?|aws_access_key_id)\s*[:=]\s*(\S+)",
    "secret": r"^\s*(?:s3[ _-]*secret[ _-]*(?:access[ _-]*)?key|aws_secret_access_key)\s*[:=]\s*(\S+)",
}
found = {}
for path in sys.argv[1:]:
    try:
        text = open(path, errors="replace").read()
    except OSError:
        continue
    for line in text.splitlines():
        for name, pattern in patterns.items():
            m = re.match(pattern, line, re.IGNORECASE)
            if m and name not in found:
                found[name] = m.group(1).strip("'\"")
if "endpoint" in found and "://" not in found["endpoint"]:
    found["endpoint"] = "http://" + found["endpoint"]
found.setdefault("region", "us-east-1")
missing = [n for n in patterns if n not in found]
if missing:
    sys.exit("strata dev announced no S3 " + ", ".join(missing))
print(found["endpoint"]); print(found["region"]); print(found["access"]); print(found["secret"])
EOF
}

# The flag of `strata dev` that sets the S3 listener (--s3-port or --s3-addr / --s3-listen), or
# nothing when this binary has no S3 API.
strata_s3_flag() {
    "$1" dev --help 2>/dev/null | grep -oE -- '--s3-(port|addr|address|listen)\b' | head -1
}

S3_SERVER_PID=
S3_SERVER_DIR=
S3_ENDPOINT=
S3_REGION=us-east-1
S3_ACCESS_KEY=
S3_SECRET_KEY=

# Starts a fresh `strata dev` (3 core replicas + 1 gateway) on free ports with an empty data
# directory; sets S3_SERVER_PID / S3_SERVER_DIR / S3_ENDPOINT / S3_REGION / S3_ACCESS_KEY /
# S3_SECRET_KEY.
# Usage: strata_dev_start BIN LOG
strata_dev_start() {
    local bin=$1 log=$2 flag base s3_arg
    flag=$(strata_s3_flag "$bin")
    if [[ -z $flag ]]; then
        echo "$bin has no S3 API (no --s3-port in 'strata dev --help')" >&2
        return 3
    fi
    base=$(s3_free_ports 8) || return 1
    # redis, grpc, metrics: base..base+2; cores: base+3..base+5; S3: base+6.
    case $flag in
    --s3-port) s3_arg=$((base + 6)) ;;
    *) s3_arg=127.0.0.1:$((base + 6)) ;;
    esac
    S3_SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/strata-s3.XXXXXX")
    "$bin" dev --data-dir "$S3_SERVER_DIR/data" --redis-port "$base" --grpc-port $((base + 1)) \
        --metrics-port $((base + 2)) --core-port $((base + 3)) "$flag" "$s3_arg" >"$log" 2>&1 &
    S3_SERVER_PID=$!
    for _ in $(seq 1 1200); do
        grep -q '^ready:' "$log" && break
        kill -0 "$S3_SERVER_PID" 2>/dev/null || { echo "strata dev exited; see $log" >&2; return 1; }
        sleep 0.1
    done
    grep -q '^ready:' "$log" || { echo "strata dev did not become ready in 120 s; see $log" >&2; return 1; }
    local announced
    announced=$(s3_parse_announcement "$log" "$S3_SERVER_DIR/data/s3-credentials") || return 1
    { read -r S3_ENDPOINT; read -r S3_REGION; read -r S3_ACCESS_KEY; read -r S3_SECRET_KEY; } <<<"$announced"
    s3_wait_listening "$S3_ENDPOINT" "$S3_SERVER_PID"
}

# Where `cargo install` puts s3s-fs when it is missing (its own target dir: it shares nothing
# with the workspace's).
S3S_FS_ROOT=${S3S_FS_ROOT:-$HOME/.cache/s3s-fs}

# Prints the path of an s3s-fs 0.14.1 binary, installing it from crates.io the first time.
s3s_fs_binary() {
    if command -v s3s-fs >/dev/null; then
        command -v s3s-fs
        return
    fi
    if [[ ! -x $S3S_FS_ROOT/bin/s3s-fs ]]; then
        echo "installing s3s-fs 0.14.1 into $S3S_FS_ROOT (once; a few minutes) ..." >&2
        CARGO_TARGET_DIR=$S3S_FS_ROOT/target cargo install s3s-fs --version 0.14.1 --features binary --locked \
            --root "$S3S_FS_ROOT" >&2 || return 1
    fi
    echo "$S3S_FS_ROOT/bin/s3s-fs"
}

# Starts s3s-fs on a free port over an empty temporary directory with a fixed dev key pair;
# sets the same variables as strata_dev_start. Usage: s3s_fs_start LOG
s3s_fs_start() {
    local log=$1 bin port
    bin=$(s3s_fs_binary) || return 1
    port=$(s3_free_ports 1) || return 1
    S3_SERVER_DIR=$(mktemp -d "${TMPDIR:-/tmp}/s3s-fs.XXXXXX")
    mkdir -p "$S3_SERVER_DIR/root"
    S3_REGION=us-east-1
    S3_ACCESS_KEY=s3sfsdevaccesskey
    S3_SECRET_KEY=s3sfsdevsecretkey0123456789
    S3_ENDPOINT=http://127.0.0.1:$port
    "$bin" --host 127.0.0.1 --port "$port" --access-key "$S3_ACCESS_KEY" --secret-key "$S3_SECRET_KEY" \
        "$S3_SERVER_DIR/root" >"$log" 2>&1 &
    S3_SERVER_PID=$!
    s3_wait_listening "$S3_ENDPOINT" "$S3_SERVER_PID"
}

# Waits until the endpoint accepts TCP connections (or its process exited).
s3_wait_listening() {
    local endpoint=$1 pid=$2 hostport host port
    hostport=${endpoint#*://}
    hostport=${hostport%%/*}
    host=${hostport%:*}
    port=${hostport##*:}
    for _ in $(seq 1 300); do
        (echo >"/dev/tcp/$host/$port") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "the S3 server exited before listening on $endpoint" >&2; return 1; }
        sleep 0.1
    done
    echo "nothing listens on $endpoint after 30 s" >&2
    return 1
}

# Stops the server started by strata_dev_start or s3s_fs_start and removes its data.
s3_server_stop() {
    if [[ -n $S3_SERVER_PID ]]; then
        # strata dev stops its core processes on SIGTERM; s3s-fs just exits.
        # (|| true: these fail when it already exited, and callers may run with set -e.)
        kill -TERM "$S3_SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do
            kill -0 "$S3_SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$S3_SERVER_PID" 2>/dev/null || true
        wait "$S3_SERVER_PID" 2>/dev/null || true
        S3_SERVER_PID=
    fi
    if [[ -n $S3_SERVER_DIR ]]; then
        rm -rf "$S3_SERVER_DIR"
        S3_SERVER_DIR=
    fi
}
