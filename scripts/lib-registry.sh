# Shared by scripts and benchmarks: Debian's docker-registry on a free
# loopback port with its own three-line config (the shipped one listens on all
# interfaces). Sets REG (host:port) and regpid; the caller kills $regpid.
start_registry() { # storage directory
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    printf 'version: 0.1\nstorage: {filesystem: {rootdirectory: %s}}\nhttp: {addr: 127.0.0.1:%s}\n' "$1" "$port" > "$1.yml"
    docker-registry serve "$1.yml" >"$1.log" 2>&1 &
    regpid=$!
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
    REG=127.0.0.1:$port
}
