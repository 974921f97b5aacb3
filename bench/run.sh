#!/usr/bin/env bash
# berth vs docker vs podman: `run --rm busybox true`, end to end through each
# engine's own client, plus the daemons' idle memory and the per-container shims'.
#
#   bench/run.sh [ROUNDS]          (default 30; also ROUNDS=... in the environment)
#   WARMUP=N                       untimed runs of each engine first (default 3)
#   BERTH_CLIENT=berth|docker      which client drives berthd (default: the berth CLI
#                                  when it has `run`, else the docker 28 CLI)
#
# Everything runs on private roots under one temp dir (data roots on disk, exec
# roots on a tmpfs of its own, as /run usually is), started and stopped by this
# script (by pid), on cgroup parents named after this script's pid:
# - berthd (release build of berthd, berth-shim, berth), --cgroup-parent /berth-bench-<pid>;
# - dockerd (Debian's docker.io 20.10, /usr/sbin/dockerd) with the containerd it
#   starts and manages itself, --bridge none and no iptables/ip-forward/masquerade
#   changes, cgroupfs driver, --cgroup-parent /docker-bench-<pid>; driven by the
#   docker 28 CLI;
# - podman with its own --root/--runroot/--tmpdir and containers.conf (cgroupfs,
#   no events log, file locks), --cgroup-parent /podman-bench-<pid>.
# The same docker-archive of scripts/make-busybox-image (named
# docker.io/library/busybox:latest) is loaded into each. Every run uses
# `--network none`: dockerd has no bridge here and podman would otherwise set up
# its CNI bridge; berth has no networking yet (its containers get an empty network
# namespace, which is what `none` means).
#
# Each round runs the three engines in a rotating order. Prints median and p90 wall
# time (ms) per engine and the ratios berth/docker and berth/podman; then memory:
# idle daemon RSS (berthd vs dockerd + containerd, after the image is loaded and a
# container has run) and the RSS of one container's shim (berth-shim vs
# containerd-shim-runc-v2, and podman's conmon) with `sleep 1000` running.
#
# Needs root. Cleans up everything it started (processes by pid, mounts under its
# temp dir, its cgroups) on exit, failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ROUNDS="${1:-${ROUNDS:-30}}"
WARMUP="${WARMUP:-3}"
ME="bench/run.sh"

. bench/engines.sh

# The commands timed, one per engine.
declare -A RUN=(
    [berth]="$(printf '%q ' "${BERTH[@]}") run --rm ${BERTH_NET[*]} busybox true"
    [docker]="$(printf '%q ' "${DOCKER[@]}") run --rm --network none busybox true"
    [podman]="$(printf '%q ' "${PODMAN[@]}") run --rm --network none --cgroup-parent /$CG_PODMAN busybox true"
)

NAMES=(berth docker podman)
for name in "${NAMES[@]}"; do : > "$W/$name.ms"; : > "$W/$name.fail"; done

# run_one NAME: appends the elapsed ms, or the failure.
run_one() {
    local name="$1" t0 t1 rc=0
    t0=$EPOCHREALTIME
    # KILL: `docker run` relays a TERM to the container instead of exiting.
    eval "timeout -s KILL 60 ${RUN[$name]}" </dev/null >"$W/out" 2>"$W/err" || rc=$?
    t1=$EPOCHREALTIME
    if [ "$rc" = 0 ]; then
        ms_between "$t0" "$t1" >> "$W/$name.ms"
    else
        echo "exit $rc: $(head -c 400 "$W/err" | tr '\n' ' ')" >> "$W/$name.fail"
    fi
}

echo "warming up ($WARMUP runs each)..." >&2
for ((i = 0; i < WARMUP; i++)); do
    for name in "${NAMES[@]}"; do run_one "$name"; done
done
for name in "${NAMES[@]}"; do
    if [ -s "$W/$name.fail" ] && ! [ -s "$W/$name.ms" ]; then
        echo "$ME: warning: every warm-up run of $name failed: $(head -1 "$W/$name.fail")" >&2
    fi
    : > "$W/$name.ms"; : > "$W/$name.fail"
done

echo "running $ROUNDS interleaved rounds..." >&2
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < 3; k++)); do
        run_one "${NAMES[$(( (r + k) % 3 ))]}"
    done
done

# ------------------------------------------------------------------ memory

# rss PID -> VmRSS in KiB (0 if gone)
rss() { awk '/^VmRSS:/ { print $2; f = 1 } END { if (!f) print 0 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# rss_parts PID -> "anon file shmem" KiB
rss_parts() {
    awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^RssShmem:/ { s = $2 }
         END { printf "anon %d, file %d, shmem %d KiB", a, f, s }' "/proc/$1/status" 2>/dev/null
}
comm() { cat "/proc/$1/comm" 2>/dev/null || echo "?"; }
ppid() { awk '/^PPid:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' || true; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }

echo "measuring memory..." >&2
sleep 2 # let the daemons settle after the last runs
BERTHD_RSS=$(rss "$BERTHD_PID")
DOCKERD_RSS=$(rss "$DOCKERD_PID")
CONTAINERD_PID=""
for pid in $(children "$DOCKERD_PID"); do
    [ "$(comm "$pid")" = containerd ] && CONTAINERD_PID=$pid
done
CONTAINERD_RSS=0
[ -n "$CONTAINERD_PID" ] && CONTAINERD_RSS=$(rss "$CONTAINERD_PID")

# shim_of INIT_PID EXPECTED_COMM -> the pid of the init's parent if it is the shim
shim_of() {
    local p
    p="$(ppid "$1")"
    if [ -n "$p" ] && [ "$(comm "$p")" = "$2" ]; then echo "$p"; fi
}

BSHIM_PID="" DSHIM_PID="" CONMON_PID=""
if berth_ run -d --name b-sleep "${BERTH_NET[@]}" busybox sleep 1000 >/dev/null 2>"$W/err"; then
    sleep 3 # berth-shim gives back its text pages after 1 s idle
    init=$(berthd_docker inspect --format '{{.State.Pid}}' b-sleep)
    BSHIM_PID=$(shim_of "$init" berth-shim)
else
    echo "$ME: berth run -d sleep failed: $(head -c 400 "$W/err")" >&2
fi
if docker_ run -d --name d-sleep --network none busybox sleep 1000 >/dev/null 2>"$W/err"; then
    sleep 3 # the same wait for every engine
    init=$(docker_ inspect --format '{{.State.Pid}}' d-sleep)
    DSHIM_PID=$(shim_of "$init" containerd-shim)
else
    echo "$ME: docker run -d sleep failed: $(head -c 400 "$W/err")" >&2
fi
if podman_ run -d --name p-sleep --network none --cgroup-parent "/$CG_PODMAN" busybox sleep 1000 >/dev/null 2>"$W/err"; then
    sleep 3 # the same wait for every engine
    CONMON_PID=$(podman_ inspect --format '{{.State.ConmonPid}}' p-sleep)
else
    echo "$ME: podman run -d sleep failed: $(head -c 400 "$W/err")" >&2
fi
BSHIM_RSS=0 DSHIM_RSS=0 CONMON_RSS=0 BSHIM_PARTS="" DSHIM_PARTS="" CONMON_PARTS=""
[ -n "$BSHIM_PID" ] && { BSHIM_RSS=$(rss "$BSHIM_PID"); BSHIM_PARTS=$(rss_parts "$BSHIM_PID"); }
[ -n "$DSHIM_PID" ] && { DSHIM_RSS=$(rss "$DSHIM_PID"); DSHIM_PARTS=$(rss_parts "$DSHIM_PID"); }
[ -n "$CONMON_PID" ] && { CONMON_RSS=$(rss "$CONMON_PID"); CONMON_PARTS=$(rss_parts "$CONMON_PID"); }
berthd_docker rm -f b-sleep >/dev/null 2>&1 || true
docker_ rm -f d-sleep >/dev/null 2>&1 || true
podman_ rm -f -t 0 p-sleep >/dev/null 2>&1 || true

# ------------------------------------------------------------------ report

report_header run \
    " (runc $(runc --version 2>/dev/null | awk 'NR == 1 { print $3 }'))" \
    " (runtime $(podman_ info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null))"
echo "$ROUNDS interleaved rounds of \`run --rm --network none busybox true\`"
echo "(berth has no networking yet: its containers get an empty network namespace$( [ ${#BERTH_NET[@]} = 0 ] && echo ", and its CLI has no --network, so berth runs without the flag"))"
printf "%-8s %6s %6s %10s %10s\n" engine ok failed median_ms p90_ms
declare -A MED P90
for name in "${NAMES[@]}"; do
    read -r med p90 ok fail < <(stats "$W/$name" 1)
    MED[$name]=$med P90[$name]=$p90
    printf "%-8s %6s %6s %10s %10s\n" "$name" "$ok" "$fail" "$med" "$p90"
done
echo
echo "berth/docker: median $(ratio "${MED[berth]}" "${MED[docker]}"), p90 $(ratio "${P90[berth]}" "${P90[docker]}")   (target <= 0.20x)"
echo "berth/podman: median $(ratio "${MED[berth]}" "${MED[podman]}"), p90 $(ratio "${P90[berth]}" "${P90[podman]}")   (target <= 0.30x)"

echo
echo "memory (VmRSS):"
printf "  berthd idle              %8d KiB  (%s)\n" "$BERTHD_RSS" "$(mib "$BERTHD_RSS")"
printf "  dockerd + containerd     %8d KiB  (dockerd %d + containerd %d)\n" \
    "$((DOCKERD_RSS + CONTAINERD_RSS))" "$DOCKERD_RSS" "$CONTAINERD_RSS"
echo "  berthd/(dockerd+containerd): $(ratio "$BERTHD_RSS" "$((DOCKERD_RSS + CONTAINERD_RSS))")   (target <= 0.10x)"
printf "  berth-shim               %8d KiB  (%s; %s)   (target <= 1 MiB)\n" "$BSHIM_RSS" "$(mib "$BSHIM_RSS")" "${BSHIM_PARTS:-not found}"
printf "  containerd-shim-runc-v2  %8d KiB  (%s; %s)\n" "$DSHIM_RSS" "$(mib "$DSHIM_RSS")" "${DSHIM_PARTS:-not found}"
printf "  conmon (podman)          %8d KiB  (%s; %s)\n" "$CONMON_RSS" "$(mib "$CONMON_RSS")" "${CONMON_PARTS:-not found}"
echo "  berth-shim/containerd-shim: $(ratio "$BSHIM_RSS" "$DSHIM_RSS"), berth-shim/conmon: $(ratio "$BSHIM_RSS" "$CONMON_RSS")"

status=0
for name in "${NAMES[@]}"; do
    if [ -s "$W/$name.fail" ]; then
        echo
        echo "$name FAILED $(wc -l < "$W/$name.fail") of $ROUNDS runs; first failure:"
        head -1 "$W/$name.fail" | sed 's/^/  /'
        status=1
    fi
done
[ "$BSHIM_RSS" = 0 ] || [ "$DSHIM_RSS" = 0 ] && status=1
exit $status
