#!/usr/bin/env bash
# berth vs docker vs podman: file I/O throughput into a named volume, a bind
# mount and the container's own (overlay) layer, against the same commands run
# on the host directly, in one run.
#
#   bench/volumes.sh [ROUNDS] [SIZE_MB] [FILES]
#   ROUNDS=N                           rounds, the median is shown (default 5)
#   SIZE_MB=N                          the big file, MiB (default 1024)
#   FILES=N                            the many-small-files tree: N files of 4 KiB (default 20000)
#   BERTH_CLIENT=berth|docker          which client drives berthd (see bench/engines.sh)
#
# Four measurements per place, each timed inside the container by busybox's
# `time` (so the engine's exec and attach costs are not counted), and on the
# host by the host's busybox running the same script:
#   write MB/s     dd if=/dev/zero of=DIR/big bs=1M count=SIZE_MB conv=fsync
#                  (a fresh file each time)
#   read MB/s      dd if=DIR/big of=/dev/null bs=1M iflag=direct: O_DIRECT reads
#                  that file from the disk, past the page cache (no cache is
#                  dropped, the host's caches are shared)
#   untar files/s  tar -xf in.tar -C DIR (FILES files of 4 KiB, no fsync)
#   tar files/s    tar -cf /dev/null -C DIR files (page cache warm), 20 passes
#                  timed as one
# The tar of small files and the script are copied into each container with the
# engine's `cp` (untimed). Places:
#   volume   -v bench-vol:/vol, a named volume
#   bind     -v HOSTDIR:/bind, a directory on the same disk as the host's own
#   overlay  a directory in the writable layer of a second container that has
#            no mounts at all (nothing of docker's or podman's at that path)
#   nosec    berth only: a named volume in a container run with
#            --security-opt seccomp=unconfined, untar and tar only. A seccomp
#            filter (every engine's default) makes each system call take the
#            kernel's slower entry path; the warm tar is nothing but system
#            calls (about 8 per file), so this line shows how much of a
#            volume's tar figure is that filter's cost rather than the
#            volume's.
# Each round measures the host again before each engine, and each place's
# write and read ratios are to that host figure, minutes apart at most (the
# disk's speed drifts); its untar and tar ratios are to the host's untar and
# tar run just before that place's. Prints the median over ROUNDS of each figure, and the median of
# its per-round ratios to the host (target: >= 0.95x for volumes and binds).
#
# Engines run on private roots set up by bench/engines.sh (which also cleans up
# everything on exit, failure or Ctrl-C). Needs root. Smoke-test with tiny
# sizes: bench/volumes.sh 1 8 100
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ROUNDS="${1:-${ROUNDS:-5}}"
SIZE_MB="${2:-${SIZE_MB:-1024}}"
FILES="${3:-${FILES:-20000}}"
TAR_REPS=20
ME="bench/volumes.sh"
for v in ROUNDS SIZE_MB FILES; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [ROUNDS] [SIZE_MB] [FILES]  (each >= 1; defaults 5 1024 20000)" >&2
        exit 2
    fi
done
command -v busybox >/dev/null || { echo "$ME: busybox not found on the host (apt-get install busybox)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$ME: python3 not found" >&2; exit 1; }

. bench/engines.sh

NAMES=(berth docker podman)
PLACES=(volume bind overlay)
TESTS=(write read untar tar)
# client NAME: sets CMD to that engine's client command line.
client() {
    case "$1" in
        berth) CMD=("${BERTH[@]}") ;;
        docker) CMD=("${DOCKER[@]}") ;;
        podman) CMD=("${PODMAN[@]}") ;;
    esac
}
run_flags() {
    case "$1" in
        berth) echo "${BERTH_NET[*]}" ;;
        docker) echo "--network none" ;;
        podman) echo "--network none ${PODMAN_CG[*]}" ;;
    esac
}

echo "making $FILES files of 4 KiB..." >&2
python3 - "$W/in.tar" "$FILES" <<'EOF'
import io, sys, tarfile
path, n = sys.argv[1], int(sys.argv[2])
block = bytes(range(256)) * 16
with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as t:
    d = tarfile.TarInfo("files")
    d.type, d.mode = tarfile.DIRTYPE, 0o755
    t.addfile(d)
    for i in range(n):
        info = tarfile.TarInfo(f"files/f{i}")
        info.size, info.mode = len(block), 0o644
        t.addfile(info, io.BytesIO(block))
EOF

# The measuring script, run as `sh measure.sh DIR IN SIZE_MB` in a container or
# on the host; prints "write S", "read S", "untar S", "tar S" (seconds, busybox
# `time`'s centiseconds). busybox's own applets are named, so the host's GNU
# time or tar never stand in.
echo "TAR_REPS=$TAR_REPS" > "$W/measure.sh"
cat >> "$W/measure.sh" <<'EOF'
dir="$1" in="$2" size="$3" only="${4:-}"
secs() {
    # busybox time: "real\t1m 2.34s"
    sed -n 's/^real[[:space:]]*\([0-9]*\)m[[:space:]]*\([0-9.]*\)s$/\1 \2/p' | awk '{ print $1 * 60 + $2 }'
}
# DIR is new each time, and no tree of small files is removed before the
# bench ends (the containers stay until then too): ext4 does not reuse an
# inode within a minute of its deletion, and finding a free one among
# 20000 just deleted costs it about 0.5 ms of kernel time per new file
# (`recently_deleted` in perf), so an untar ran 0.6 s or 12 s depending on
# what the previous measurement had removed. `sync` (untimed) after each
# removal of the big file.
mkdir -p "$dir"
if [ "$only" != files ]; then
rm -f "$dir/big"
busybox sync
echo "write $( { busybox time busybox dd if=/dev/zero of="$dir/big" bs=1M count="$size" conv=fsync; } 2>&1 | secs)"
echo "read $( { busybox time busybox dd if="$dir/big" of=/dev/null bs=1M iflag=direct; } 2>&1 | secs)"
rm -f "$dir/big"
busybox sync
fi
echo "untar $( { busybox time busybox tar -xf "$in" -C "$dir"; } 2>&1 | secs)"
# A tar of the warm tree takes about 0.1 s: TAR_REPS passes in one timing keep
# busybox's 10 ms resolution out of the figure.
echo "tar $( { busybox time busybox sh -c 'i=0; while [ $i -lt "$2" ]; do busybox tar -cf /dev/null -C "$1" files; i=$((i + 1)); done' sh "$dir" "$TAR_REPS"; } 2>&1 | secs)"
EOF

declare -A SECS=() RATIOS=() HOST_NOW=() FAILED=()
# note KEY "write S\nread S..." -> appends each figure to SECS[KEY,test] and,
# for an engine's place, its ratio to the host's figure taken just before
# (same work, so host seconds / place seconds) to RATIOS[KEY,test]
note() {
    local key="$1" line t s
    while read -r t s; do
        [ -n "$t" ] && [ -n "$s" ] || continue
        SECS[$key,$t]="${SECS[$key,$t]:-} $s"
        if [ "$key" = host ]; then
            HOST_NOW[$t]="$s"
        elif [ -n "${HOST_NOW[$t]:-}" ]; then
            RATIOS[$key,$t]="${RATIOS[$key,$t]:-} $(awk -v h="${HOST_NOW[$t]}" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.3f", h / s }')"
        fi
    done <<< "$2"
}

HOST_RUNS=0
measure_host() {
    local out
    HOST_RUNS=$((HOST_RUNS + 1))
    HOST_NOW=()
    if out=$(busybox sh "$W/measure.sh" "$W/host-$HOST_RUNS" "$W/in.tar" "$SIZE_MB" 2>&1); then
        note host "$out"
    else
        FAILED[host]="$out"
    fi
}

# start NAME CONTAINER ARGS...: `run -d` of a busybox that sleeps, with ARGS
# (mount flags), and the tar and the script copied in; 0 or 1, the reason in OUT.
start() {
    local name="$1" c="$2" flags
    shift 2
    client "$name"
    flags="$(run_flags "$name")"
    # shellcheck disable=SC2086 # flags are words
    if ! out=$(timeout -s KILL 120 "${CMD[@]}" run -d $flags --name "$c" "$@" busybox sleep 100000 2>&1); then
        out="run: $out"
        return 1
    fi
    if ! out=$(timeout -s KILL 600 "${CMD[@]}" cp "$W/in.tar" "$c:/in.tar" 2>&1) ||
        ! out=$(timeout -s KILL 120 "${CMD[@]}" cp "$W/measure.sh" "$c:/measure.sh" 2>&1); then
        out="cp: $out"
        return 1
    fi
}

# measure_host_files: the host's untar and tar again (into a new directory),
# as the figures the next place's untar and tar are compared with: these
# drift by several percent within a minute here, more than the engines
# differ.
measure_host_files() {
    local out
    HOST_RUNS=$((HOST_RUNS + 1))
    if out=$(busybox sh "$W/measure.sh" "$W/host-$HOST_RUNS" "$W/in.tar" "$SIZE_MB" files 2>&1); then
        note host "$out"
    else
        FAILED[host]="$out"
    fi
}

# measure_in NAME CONTAINER PLACE DIR [files]: the script in the container,
# into DIR ("files": untar and tar only), right after the host's untar and
# tar.
measure_in() {
    local name="$1" c="$2" place="$3" dir="$4" only="${5:-}"
    measure_host_files
    client "$name"
    if out=$(timeout -s KILL 3600 "${CMD[@]}" exec "$c" sh /measure.sh "$dir" /in.tar "$SIZE_MB" $only 2>&1); then
        note "$name,$place" "$out"
    else
        FAILED[$name,$place]="exec: $out"
    fi
}

# measure_engine NAME ROUND: one container with a named volume and a bind
# mount (the volume and bind places), one without any mount (the overlay
# place); each measures into a directory of its own, and all stay until
# the end (see measure.sh).
measure_engine() {
    local name="$1" round="$2" out c
    c="vb-$name-$round"
    mkdir -p "$W/bind-$name"
    if start "$name" "$c" -v "bench-vol-$name:/vol" -v "$W/bind-$name:/bind"; then
        measure_in "$name" "$c" volume "/vol/t$round"
        measure_in "$name" "$c" bind "/bind/t$round"
    else
        FAILED[$name,volume]="$out" FAILED[$name,bind]="$out"
    fi
    c="vo-$name-$round"
    if start "$name" "$c"; then
        measure_in "$name" "$c" overlay /ovl/t
    else
        FAILED[$name,overlay]="$out"
    fi
    if [ "$name" = berth ]; then
        c="vn-$name-$round"
        if start "$name" "$c" --security-opt seccomp=unconfined -v "bench-vol-nosec:/vol"; then
            measure_in "$name" "$c" nosec "/vol/t$round" files
        else
            FAILED[$name,nosec]="$out"
        fi
    fi
}

for ((round = 0; round < ROUNDS; round++)); do
    echo "round $((round + 1))/$ROUNDS..." >&2
    # A rotating order, so no engine always runs first; the host's own
    # figures are taken again before each engine, and each place is compared
    # with them: the disk's speed drifts over the minutes a round takes.
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
        measure_host
        measure_engine "${NAMES[$(((i + round) % ${#NAMES[@]}))]}" "$round"
    done
done

# median of the values in "$1" (space separated; empty when none)
median_of() {
    local v="$1"
    [ -n "$v" ] || return 0
    tr ' ' '\n' <<< "$v" | grep -v '^$' | sort -n |
        awk '{ v[NR] = $1 } END { m = int((NR + 1) / 2); print v[m] }'
}
# rate TEST SECONDS -> MB/s or files/s
rate() {
    local test="$1" s="$2"
    case "$test" in
        write|read) awk -v n="$SIZE_MB" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n * 1.048576 / s }' ;;
        tar) awk -v n="$((FILES * TAR_REPS))" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n / s }' ;;
        *) awk -v n="$FILES" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n / s }' ;;
    esac
}

echo
echo "volumes: SIZE_MB=$SIZE_MB FILES=$FILES (4 KiB each) ROUNDS=$ROUNDS; medians; ratio = the median of each round's"
echo "engine / host, the host measured just before that engine (higher is better)"
echo "busybox time has 10 ms resolution: tiny sizes give meaningless rates."
printf '%-8s %-8s %14s %14s %14s %14s\n' engine place "write MB/s" "read MB/s" "untar f/s" "tar f/s"
declare -A HOST_RATE=()
line="host     -       "
for t in "${TESTS[@]}"; do
    s="$(median_of "${SECS[host,$t]:-}")"
    if [ -n "$s" ]; then HOST_RATE[$t]="$(rate "$t" "$s")"; line+=" $(printf '%14s' "${HOST_RATE[$t]}")"; else line+=" $(printf '%14s' fail)"; fi
done
echo "$line"
for name in "${NAMES[@]}"; do
    places=("${PLACES[@]}")
    [ "$name" = berth ] && places+=(nosec)
    for place in "${places[@]}"; do
        line="$(printf '%-8s %-8s' "$name" "$place")"
        for t in "${TESTS[@]}"; do
            s="$(median_of "${SECS[$name,$place,$t]:-}")"
            if [ -z "$s" ] && [ "$place" = nosec ] && { [ "$t" = write ] || [ "$t" = read ]; }; then
                cell=-
            elif [ -z "$s" ]; then
                cell=fail
            else
                r="$(rate "$t" "$s")"
                q="$(median_of "${RATIOS[$name,$place,$t]:-}")"
                cell="$r"
                [ -n "$q" ] && cell="$r ($(printf '%.2fx' "$q"))"
            fi
            line+=" $(printf '%14s' "$cell")"
        done
        echo "$line"
    done
done
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "failures (first lines):"
    for k in "${!FAILED[@]}"; do
        echo "  $k: $(head -c 300 <<< "${FAILED[$k]}" | head -3 | tr '\n' ' ')"
    done
fi
