# Sourced by the bench scripts after `cd` to the repository root, `. bench/lib.sh`
# and setting ME (the script's name for messages): builds release berthd,
# berth-shim and berth, then starts berthd, dockerd (Debian's docker.io 20.10 with
# the containerd it manages itself) and podman side by side on private roots
# under one temp dir $W (data roots on disk, exec roots on a tmpfs of their own,
# as /run usually is), each on a cgroup parent named after the script's pid, and
# loads the same busybox image (docker.io/library/busybox:latest, made by
# scripts/make-busybox-image) into each. An EXIT trap removes every container on
# the three private engines, stops the daemons (by pid), ends shims and conmon
# under $W, unmounts what is under $W and removes the cgroups and $W.
#
# Gives the scripts:
#   berth_ ARGS         the berth side: the berth CLI, or the docker 28 CLI with
#                       BERTH_CLIENT=docker (default: the berth CLI once it has `run`)
#   berthd_docker ARGS  the docker 28 CLI against berthd (for inspect formats)
#   docker_ ARGS        the docker 28 CLI against dockerd
#   podman_ ARGS        podman on its private roots
#   BERTH DOCKER PODMAN the same as arrays; BERTH_NET, the network flag for berth
#   PODMAN_CG           the cgroup-parent flag podman needs on each run/create
#   W REL BERTHD_PID DOCKERD_PID DOCKER_CLI
#
# DOCKERD_NET_FLAGS (a word list) replaces dockerd's network flags (default: no
# bridge, no iptables, no forwarding, no userland proxy); bench/network.sh gives
# it docker's defaults, inside a network namespace of its own.
# DOCKERD_NETNS and PODMAN_NETNS (pids) put dockerd and every podman command
# into the network namespace of that process (default: the script's own), so
# that each engine's bridge and firewall rules are alone in their namespace
# (bench/network.sh: dockerd's iptables FORWARD policy DROP would otherwise
# drop the other engines' bridged traffic).

if [ "$(id -u)" != 0 ]; then
    echo "$ME: must run as root" >&2
    exit 1
fi
DOCKER_CLI=/usr/local/bin/docker
[ -x "$DOCKER_CLI" ] || DOCKER_CLI="$(command -v docker || true)"
for tool in /usr/sbin/dockerd containerd containerd-shim-runc-v2 podman conmon "$DOCKER_CLI"; do
    command -v "$tool" >/dev/null || { echo "$ME: $tool not found (.ci/run installs docker.io, containerd, podman)" >&2; exit 1; }
done

scripts/peer-setup >/dev/null

echo "building release berthd, berth-shim, berth..." >&2
cargo build --release -q -p berthd -p berth-shim -p berth
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
REL="$target_dir/release"

# Short: unix socket paths are limited to 107 bytes, and shims put theirs below.
W="$(mktemp -d /tmp/brb.XXXXXX)"
CG_BERTH="berth-bench-$$" CG_DOCKER="docker-bench-$$" CG_PODMAN="podman-bench-$$"
# berthd's default bridge and nftables table, private to this run (a bridge name
# has at most 15 bytes). Deleted on exit; bench/network.sh runs in a network
# namespace of its own, where they die with it anyway.
BERTH_BRIDGE="brb$$" BERTH_NFT="brb$$"
BERTHD_PID="" DOCKERD_PID=""
DOCKER_KEY=/etc/docker/key.json
REMOVE_KEY=0 REMOVE_RUN_DOCKER=0 REMOVE_ETC_DOCKER=0
[ -e "$DOCKER_KEY" ] || REMOVE_KEY=1
[ -e /etc/docker ] || REMOVE_ETC_DOCKER=1
[ -e /run/docker ] || REMOVE_RUN_DOCKER=1

# stop_pid PID: TERM, up to 20 s, then KILL.
stop_pid() {
    local pid="$1" i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Processes whose command line names our temp dir (shims, conmon): ours alone.
our_pids() {
    local p cmd
    for p in /proc/[0-9]*; do
        [ "${p#/proc/}" = "$$" ] && continue
        cmd="$(cat "$p/cmdline" 2>/dev/null | tr '\0' ' ')"
        case "$cmd" in *"$W/"*) echo "${p#/proc/}" ;; esac
    done
}

# Removes a cgroup named NAME at the top of every hierarchy, deepest first.
remove_cgroup() {
    local name="$1" top d
    for top in /sys/fs/cgroup/*/"$name" /sys/fs/cgroup/"$name"; do
        [ -d "$top" ] || continue
        find "$top" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

cleanup() {
    local rc=$? pid m
    trap - EXIT INT TERM
    set +eu
    echo "cleaning up..." >&2
    # The daemons are private to this run: every container on them is ours.
    if [ -n "$BERTHD_PID" ] && kill -0 "$BERTHD_PID" 2>/dev/null; then
        timeout -s KILL 120 "${BERTHD_DOCKER[@]}" ps -aq 2>/dev/null |
            xargs -r timeout -s KILL 120 "${BERTHD_DOCKER[@]}" rm -f >/dev/null 2>&1
    fi
    if [ -n "$DOCKERD_PID" ] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        timeout -s KILL 120 "${DOCKER[@]}" ps -aq 2>/dev/null |
            xargs -r timeout -s KILL 120 "${DOCKER[@]}" rm -f >/dev/null 2>&1
    fi
    if [ -d "$W/podman" ]; then
        timeout -s KILL 120 "${PODMAN[@]}" rm --all --force --time 0 >/dev/null 2>&1
    fi
    stop_pid "$BERTHD_PID"
    stop_pid "$DOCKERD_PID"
    # Shims and conmon outlive their daemons by design; end ours.
    for pid in $(our_pids); do kill -KILL "$pid" 2>/dev/null; done
    sleep 0.2
    # Mounts under our temp dir, deepest first.
    for m in $(awk -v w="$W/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    for name in "$CG_BERTH" "$CG_DOCKER" "$CG_PODMAN"; do remove_cgroup "$name"; done
    ip link show "$BERTH_BRIDGE" >/dev/null 2>&1 && ip link delete "$BERTH_BRIDGE"
    nft list table inet "$BERTH_NFT" >/dev/null 2>&1 && nft delete table inet "$BERTH_NFT"
    [ "$REMOVE_KEY" = 1 ] && rm -f "$DOCKER_KEY"
    [ "$REMOVE_ETC_DOCKER" = 1 ] && rmdir /etc/docker 2>/dev/null
    [ "$REMOVE_RUN_DOCKER" = 1 ] && rm -rf /run/docker
    rm -rf "$W"
    # Written out now: ext4 keeps skipping the freed inodes for 6 minutes
    # while their inode tables are dirty (1 minute once written), which slows any
    # file creation right after (the next bench's untar, 5-13 s for 0.7 s).
    sync
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup

scripts/make-busybox-image --docker-archive "$W/busybox.tar" --name docker.io/library/busybox:latest >/dev/null

# wait_for WHAT PID CMD...: polls CMD for up to 30 s while PID lives.
wait_for() {
    local what="$1" pid="$2" i
    shift 2
    for ((i = 0; i < 300; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$ME: $what exited early" >&2; return 1; }
        sleep 0.1
    done
    echo "$ME: $what did not answer within 30 s" >&2
    return 1
}

# Client settings of our own (both docker CLI uses, and podman).
export DOCKER_CONFIG="$W/docker-cli" CONTAINERS_CONF="$W/podman/containers.conf"
BERTHD_DOCKER=("$DOCKER_CLI" -H "unix://$W/berth.sock")
DOCKER=("$DOCKER_CLI" -H "unix://$W/docker.sock")
PODMAN=(${PODMAN_NETNS:+nsenter -t "$PODMAN_NETNS" -n --} podman --root "$W/podman/root" --runroot "$W/r/p" --tmpdir "$W/r/ptmp"
    --cgroup-manager cgroupfs --events-backend none)
berthd_docker() { "${BERTHD_DOCKER[@]}" "$@"; }
docker_() { "${DOCKER[@]}" "$@"; }
podman_() { "${PODMAN[@]}" "$@"; }

# Runtime state (exec roots, podman's runroot) on a tmpfs, as /run is on a usual
# host (on this machine kind /run is on the root disk, where every fsync of
# runtime state would cost milliseconds); data roots on disk, as /var/lib.
mkdir -p "$W/r"
mount -t tmpfs -o mode=0755,size=512m berth-bench "$W/r"

echo "starting berthd..." >&2
mkdir -p "$W/berth"
# The exec root is short: it holds shims/<64-hex id>/control.sock.
"$REL/berthd" --data-root "$W/berth/data" --exec-root "$W/r/b" \
    -H "unix://$W/berth.sock" --pidfile "$W/berth/berthd.pid" \
    --cgroup-parent "/$CG_BERTH" --bridge "$BERTH_BRIDGE" --nft-table "$BERTH_NFT" \
    ${BERTHD_NET_FLAGS:---bip 10.215.$(($$ % 250)).1/24 --ip-forward=false} \
    </dev/null >"$W/berth/berthd.log" 2>&1 &
BERTHD_PID=$!
wait_for berthd "$BERTHD_PID" berthd_docker version || { tail -20 "$W/berth/berthd.log" >&2; exit 1; }

echo "starting dockerd (with its own containerd)..." >&2
mkdir -p "$W/docker"
echo '{}' > "$W/docker/daemon.json"
${DOCKERD_NETNS:+nsenter -t "$DOCKERD_NETNS" -n --} /usr/sbin/dockerd --config-file "$W/docker/daemon.json" \
    --data-root "$W/docker/data" --exec-root "$W/r/d" \
    --pidfile "$W/docker/dockerd.pid" -H "unix://$W/docker.sock" \
    ${DOCKERD_NET_FLAGS:---bridge none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --userland-proxy=false} \
    --storage-driver overlay2 \
    --exec-opt native.cgroupdriver=cgroupfs --cgroup-parent "/$CG_DOCKER" \
    </dev/null >"$W/docker/dockerd.log" 2>&1 &
DOCKERD_PID=$!
wait_for dockerd "$DOCKERD_PID" docker_ version || { tail -20 "$W/docker/dockerd.log" >&2; exit 1; }

# podman also reads DOCKER_CONFIG (for registry logins) and wants the file.
mkdir -p "$W/docker-cli" "$W/podman"
echo '{}' > "$W/docker-cli/config.json"
cat > "$W/podman/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=32768:32768"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "none"
lock_type = "file"
EOF

echo "loading busybox into each..." >&2
for load in berthd_docker docker_ podman_; do
    "$load" load -i "$W/busybox.tar" >"$W/load.log" 2>&1 || { cat "$W/load.log" >&2; exit 1; }
done

# The berth side: the berth CLI once it has `run`, else the docker 28 CLI.
BERTH_CLIENT="${BERTH_CLIENT:-}"
if [ -z "$BERTH_CLIENT" ]; then
    if "$REL/berth" run --help >/dev/null 2>&1; then BERTH_CLIENT=berth; else BERTH_CLIENT=docker; fi
fi
case "$BERTH_CLIENT" in
    berth) BERTH=("$REL/berth" -H "unix://$W/berth.sock") ;;
    docker) BERTH=("${BERTHD_DOCKER[@]}") ;;
    *) echo "$ME: BERTH_CLIENT must be berth or docker" >&2; exit 2 ;;
esac
berth_() { "${BERTH[@]}" "$@"; }
# berth has no networking yet: its containers always get a new, empty network
# namespace, which is what `--network none` asks of the others. Its CLI may not
# take the flag yet.
BERTH_NET=(--network none)
if [ "$BERTH_CLIENT" = berth ] && ! "$REL/berth" run --help 2>&1 | grep -q -- '--network'; then
    BERTH_NET=()
fi
PODMAN_CG=(--cgroup-parent "/$CG_PODMAN")
