#!/usr/bin/env bash
# berth vs docker vs podman: file I/O throughput into a named volume, a bind
# mount and the container's own (overlay) layer, against the same commands run
# on the host directly, in one run.
#
#   bench/volumes.sh [ROUNDS] [SIZE_MB] [FILES]
#   ROUNDS=N                           rounds, the median is shown (default 3)
#   SIZE_MB=N                          the big file, MiB (default 1024)
#   FILES=N                            the many-small-files tree: N files of 4 KiB (default 20000)
#   BERTH_CLIENT=berth|docker          which client drives berthd (see bench/engines.sh)
#   ENGINES="berth docker podman"      the engines to measure (default: all three)
# Each step's raw seconds go to stderr as it runs.
#
# Six measurements per place, each timed inside the container by busybox's
# `time` (so the engine's exec and attach costs are not counted), and on the
# host by the host's busybox running the same script:
#   write MB/s     dd if=/dev/zero of=DIR/big bs=1M count=SIZE_MB conv=notrunc:
#                  the file (written and synced once, untimed) overwritten in
#                  place, 10 passes timed as one: the page cache's write path
#                  through the mount. A write into a fresh file also makes
#                  the kernel find new pages, and on this VM that alone
#                  made one 1 GiB write on the host take 0.17 s or 2.2 s from
#                  one pass to the next (the hypervisor backing guest memory
#                  again), which buried what the mount costs; `disk wr` and
#                  `untar` still write fresh files.
#   read MB/s      dd if=DIR/big of=/dev/null bs=1M: that file from the page
#                  cache, 20 passes timed as one; then removed
#   disk wr MB/s   dd into a fresh file with conv=fsync: to the disk
#   disk rd MB/s   dd ... iflag=direct: O_DIRECT reads of that file from the
#                  disk, past the page cache (no cache is dropped, the host's
#                  caches are shared), 3 passes timed as one; then removed.
#                  A volume or bind is the host's own file system, so both
#                  disk figures are the disk's; on this VM's virtual disk they
#                  vary by 10-20% from one 1 GiB pass to the next, the host's
#                  own passes too, and their ratios by as much.
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
# Pairing: the disk's and the CPU's speed drift by several percent within a
# minute on this kind of machine, more than the engines differ, and a 1 GiB
# O_DIRECT read ran 0.6x or 1.6x the host's when the host was measured minutes
# earlier. So each step (write+read, untar, tar) runs host, place, place, host
# back to back, after an untimed host run of the same step and each after the
# disk has gone idle; that round's ratio is the host's two times over the
# place's two. Prints the median over ROUNDS of each figure, and the median
# of the per-round ratios (target: >= 0.95x for volumes and binds).
#
# Start it 6 minutes or more after anything removed many files from this disk
# (another run of this bench included): see the wait before the first round.
#
# Engines run on private roots set up by bench/engines.sh (which also cleans up
# everything on exit, failure or Ctrl-C). Needs root. Smoke-test with tiny
# sizes: bench/volumes.sh 1 8 100
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. bench/lib.sh

ROUNDS="${1:-${ROUNDS:-3}}"
SIZE_MB="${2:-${SIZE_MB:-1024}}"
FILES="${3:-${FILES:-20000}}"
TAR_REPS=20
READ_PASSES=3
CACHED_PASSES=20
WRITE_PASSES=10
ME="bench/volumes.sh"
for v in ROUNDS SIZE_MB FILES; do
    if ! [ "${!v}" -ge 1 ] 2>/dev/null; then
        echo "usage: $ME [ROUNDS] [SIZE_MB] [FILES]  (each >= 1; defaults 3 1024 20000)" >&2
        exit 2
    fi
done
command -v busybox >/dev/null || { echo "$ME: busybox not found on the host (apt-get install busybox)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "$ME: python3 not found" >&2; exit 1; }

sync
SYNCED_AT=$SECONDS
. bench/engines.sh

read -r -a NAMES <<< "${ENGINES:-berth docker podman}"
for n in "${NAMES[@]}"; do
    case "$n" in berth | docker | podman) ;; *) echo "$ME: ENGINES: unknown engine '$n' (berth, docker, podman)" >&2; exit 2 ;; esac
done
PLACES=(volume bind overlay)
TESTS=(write read dwrite dread untar tar)
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

# The measuring script, run as `sh measure.sh MODE DIR IN SIZE_MB` in a
# container or on the host. MODE big prints "write S", "read S", "dwrite S"
# and "dread S", untar
# prints "untar S", tar prints "tar S" (seconds, busybox `time`'s
# centiseconds). busybox's own applets are named, so the host's GNU time or
# tar never stand in.
echo "TAR_REPS=$TAR_REPS READ_PASSES=$READ_PASSES CACHED_PASSES=$CACHED_PASSES WRITE_PASSES=$WRITE_PASSES" > "$W/measure.sh"
cat >> "$W/measure.sh" <<'EOF2'
mode="$1" dir="$2" in="$3" size="$4"
secs() {
    # busybox time: "real\t1m 2.34s"
    sed -n 's/^real[[:space:]]*\([0-9]*\)m[[:space:]]*\([0-9.]*\)s$/\1 \2/p' | awk '{ print $1 * 60 + $2 }'
}
mkdir -p "$dir"
case "$mode" in
big)
    # A fresh file each time; synced and removed (untimed) so the next
    # measurement starts from the same state.
    rm -f "$dir"/big*
    # The file is written once, untimed, then overwritten in place
    # WRITE_PASSES times, timed as one (one pass takes about 0.08 s, where
    # busybox's 10 ms clock would be 12%). The same pages are reused, so
    # the figure is the write path through the mount, not how fast the VM
    # hands out fresh memory; 1 GiB of dirty pages stays under the
    # kernel's dirty thresholds, so no throttling (the disk) either.
    busybox dd if=/dev/zero of="$dir/big" bs=1M count="$size" 2>/dev/null
    busybox sync
    echo "write $( { busybox time busybox sh -c 'i=0; while [ $i -lt "$2" ]; do busybox dd if=/dev/zero of="$1" bs=1M count="$3" conv=notrunc 2>/dev/null; i=$((i + 1)); done' sh "$dir/big" "$WRITE_PASSES" "$size"; } 2>&1 | secs)"
    busybox sync
    echo "read $( { busybox time busybox sh -c 'i=0; while [ $i -lt "$2" ]; do busybox dd if="$1" of=/dev/null bs=1M 2>/dev/null; i=$((i + 1)); done' sh "$dir/big" "$CACHED_PASSES"; } 2>&1 | secs)"
    rm -f "$dir"/big*
    busybox sync
    echo "dwrite $( { busybox time busybox dd if=/dev/zero of="$dir/big" bs=1M count="$size" conv=fsync; } 2>&1 | secs)"
    # READ_PASSES reads timed as one: a single 1 GiB read varies by 20%
    # from one to the next here.
    echo "dread $( { busybox time busybox sh -c 'i=0; while [ $i -lt "$2" ]; do busybox dd if="$1" of=/dev/null bs=1M iflag=direct 2>/dev/null; i=$((i + 1)); done' sh "$dir/big" "$READ_PASSES"; } 2>&1 | secs)"
    rm -f "$dir/big"
    busybox sync
    ;;
untar)
    # DIR is new each time, and no tree of small files is removed before
    # the bench ends (the containers stay until then too): ext4 does not
    # reuse an inode within a minute of its deletion, and finding a free one
    # among 20000 just deleted costs it about 0.5 ms of kernel time per new
    # file (`recently_deleted` in perf), so an untar ran 0.6 s or 12 s
    # depending on what the previous measurement had removed.
    echo "untar $( { busybox time busybox tar -xf "$in" -C "$dir"; } 2>&1 | secs)"
    ;;
tar)
    # A tar of the warm tree takes about 0.1 s: TAR_REPS passes in one
    # timing keep busybox's 10 ms resolution out of the figure.
    echo "tar $( { busybox time busybox sh -c 'i=0; while [ $i -lt "$2" ]; do busybox tar -cf /dev/null -C "$1" files; i=$((i + 1)); done' sh "$dir" "$TAR_REPS"; } 2>&1 | secs)"
    ;;
esac
EOF2

# disk_idle: waits (at most 10 s) until the disk under $W has had no request
# in flight and no busy time for 0.3 s. Removing a 1 GiB file on a disk
# mounted with `discard` sends the discards after the journal commits, and
# `sync` does not wait for them: the next write or read measured the removal
# too, sometimes.
DISK_STAT=""
dev="$(findmnt -no SOURCE -T "$W" 2>/dev/null || true)"
if [ -b "$dev" ] && [ -r "/sys/class/block/$(basename "$(readlink -f "$dev")")/stat" ]; then
    DISK_STAT="/sys/class/block/$(basename "$(readlink -f "$dev")")/stat"
else
    echo "$ME: $W is not on a block device ($dev): not waiting for the disk to go idle between measurements" >&2
fi
disk_idle() {
    # Dirty pages of earlier steps (an untarred tree is not synced) would be
    # written back during the next measurement: write them now.
    sync
    [ -n "$DISK_STAT" ] || return 0
    local deadline=$((SECONDS + 10)) quiet=0 prev now
    prev="$(awk '{ print $10 }' "$DISK_STAT")"
    while [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
        read -r -a now < "$DISK_STAT"
        # fields: 9 in flight, 10 io_ticks (ms the disk was busy)
        if [ "${now[8]}" = 0 ] && [ "${now[9]}" = "$prev" ]; then
            quiet=$((quiet + 1))
            [ "$quiet" -ge 3 ] && return 0
        else
            quiet=0
        fi
        prev="${now[9]}"
    done
}

declare -A SECS=() RATIOS=() FAILED=()

# on_host MODE DIR / in_place NAME CONTAINER MODE DIR: the script once, after
# the disk has gone idle; its output in OUT, 1 (the reason in OUT) on failure.
on_host() {
    disk_idle
    out=$(busybox sh "$W/measure.sh" "$1" "$2" "$W/in.tar" "$SIZE_MB" 2>&1)
}
in_place() {
    disk_idle
    client "$1"
    out=$(timeout -s KILL 3600 "${CMD[@]}" exec "$2" sh /measure.sh "$3" "$4" /in.tar "$SIZE_MB" 2>&1)
}

# figure OUTPUT TEST -> that test's seconds in OUTPUT (empty when missing)
figure() { awk -v t="$2" '$1 == t { print $2 }' <<< "$1"; }

# total_ratio HOST_TIMES PLACE_TIMES -> the sum of the first over the sum of
# the second (space separated; empty when either is)
total_ratio() {
    [ -n "$1" ] && [ -n "$2" ] || return 0
    awk -v h="$1" -v p="$2" 'BEGIN { n = split(h, x, " "); for (i = 1; i <= n; i++) hs += x[i]; n = split(p, y, " "); for (i = 1; i <= n; i++) ps += y[i]; if (hs <= 0) hs = 0.01; if (ps <= 0) ps = 0.01; printf "%.3f", hs / ps }'
}
HOST_RUNS=0 WARMUPS=0
# abba NAME CONTAINER PLACE MODE PLACE_DIR_A PLACE_DIR_B: the host, the place,
# the place again and the host again, each running MODE (with a new host
# directory each time; the place uses DIR_A then DIR_B). The disk's and the
# CPU's speed drift by several percent within a minute here, more than the
# engines differ; a symmetric order cancels a steady drift. The round's
# ratio for each test is the host's two times over the place's two.
abba() {
    local name="$1" c="$2" place="$3" mode="$4" pa="$5" pb="$6" t h1 h2 p1 p2 tests
    local -a hdir
    case "$mode" in big) tests="write read dwrite dread" ;; *) tests="$mode" ;; esac
    if [ "$mode" = tar ]; then
        # the warm trees the untar step left
        hdir=("$W/host-$((HOST_RUNS - 1))" "$W/host-$HOST_RUNS")
    else
        hdir=("$W/host-$((HOST_RUNS + 1))" "$W/host-$((HOST_RUNS + 2))")
        HOST_RUNS=$((HOST_RUNS + 2))
    fi
    # Untimed, first: the first of a series of writes or untars paid for
    # the kernel's reclaim of the memory that the previous step (or a
    # container's start) had filled, up to 7x the others' time.
    if [ "$mode" != tar ]; then
        WARMUPS=$((WARMUPS + 1))
        on_host "$mode" "$W/warm-$WARMUPS" || { FAILED[host]="$out"; return 1; }
    fi
    on_host "$mode" "${hdir[0]}" || { FAILED[host]="$out"; return 1; }
    h1="$out"
    in_place "$name" "$c" "$mode" "$pa" || { FAILED[$name,$place]="exec: $out"; return 1; }
    p1="$out"
    in_place "$name" "$c" "$mode" "$pb" || { FAILED[$name,$place]="exec: $out"; return 1; }
    p2="$out"
    on_host "$mode" "${hdir[1]}" || { FAILED[host]="$out"; return 1; }
    h2="$out"
    echo "  $name $place $mode: host $(echo $h1) | place $(echo $p1) | place $(echo $p2) | host $(echo $h2)" >&2
    for t in $tests; do
        local a b c2 d
        a="$(figure "$h1" "$t")" b="$(figure "$h2" "$t")" c2="$(figure "$p1" "$t")" d="$(figure "$p2" "$t")"
        if [ -z "$a" ] || [ -z "$b" ] || [ -z "$c2" ] || [ -z "$d" ]; then
            FAILED[$name,$place]="no $t figure in: $p1 $p2"
            return 1
        fi
        SECS[host,$t]="${SECS[host,$t]:-} $a $b"
        SECS[$name,$place,$t]="${SECS[$name,$place,$t]:-} $c2 $d"
        RATIOS[$name,$place,$t]="${RATIOS[$name,$place,$t]:-} $(total_ratio "$a $b" "$c2 $d")"
    done
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

# measure_place NAME CONTAINER PLACE DIR [files]: write and read ("files":
# not), untar and tar, each in the host-place-place-host order.
measure_place() {
    local name="$1" c="$2" place="$3" dir="$4" only="${5:-}"
    if [ "$only" != files ]; then
        abba "$name" "$c" "$place" big "$dir/big" "$dir/big" || return 0
    fi
    abba "$name" "$c" "$place" untar "$dir/a" "$dir/b" || return 0
    abba "$name" "$c" "$place" tar "$dir/a" "$dir/b" || return 0
}

# measure_engine NAME ROUND: one container with a named volume and a bind
# mount (the volume and bind places), one without any mount (the overlay
# place); each measures into directories of its own, and all stay until
# the end (see measure.sh).
measure_engine() {
    local name="$1" round="$2" out c
    c="vb-$name-$round"
    mkdir -p "$W/bind-$name"
    if start "$name" "$c" -v "bench-vol-$name:/vol" -v "$W/bind-$name:/bind"; then
        measure_place "$name" "$c" volume "/vol/t$round"
        measure_place "$name" "$c" bind "/bind/t$round"
    else
        FAILED[$name,volume]="$out" FAILED[$name,bind]="$out"
    fi
    c="vo-$name-$round"
    if start "$name" "$c"; then
        measure_place "$name" "$c" overlay /ovl/t
    else
        FAILED[$name,overlay]="$out"
    fi
    if [ "$name" = berth ]; then
        c="vn-$name-$round"
        if start "$name" "$c" --security-opt seccomp=unconfined -v "bench-vol-nosec:/vol"; then
            measure_place "$name" "$c" nosec "/vol/t$round" files
        else
            FAILED[$name,nosec]="$out"
        fi
    fi
}

# ext4 skips an inode freed less than a minute ago (6 minutes while its
# inode table block is still dirty) when it looks for a free one, and that
# search cost an untar of 20000 files 5-13 s instead of 0.7 s right after
# another bench run had removed its trees. So: everything synced, and a
# minute since the sync at the start (the engines' start-up takes most of
# it), before the first measurement.
while [ "$SECONDS" -lt "$((SYNCED_AT + 65))" ]; do sleep 1; done

for ((round = 0; round < ROUNDS; round++)); do
    echo "round $((round + 1))/$ROUNDS..." >&2
    # A rotating order, so no engine always runs first.
    for ((i = 0; i < ${#NAMES[@]}; i++)); do
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
        read) awk -v n="$((SIZE_MB * CACHED_PASSES))" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n * 1.048576 / s }' ;;
        dread) awk -v n="$((SIZE_MB * READ_PASSES))" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n * 1.048576 / s }' ;;
        write) awk -v n="$((SIZE_MB * WRITE_PASSES))" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n * 1.048576 / s }' ;;
        dwrite) awk -v n="$SIZE_MB" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n * 1.048576 / s }' ;;
        tar) awk -v n="$((FILES * TAR_REPS))" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n / s }' ;;
        *) awk -v n="$FILES" -v s="$s" 'BEGIN { if (s <= 0) s = 0.01; printf "%.0f", n / s }' ;;
    esac
}

echo
echo "volumes: SIZE_MB=$SIZE_MB FILES=$FILES (4 KiB each) ROUNDS=$ROUNDS; medians; ratio = the median of each round's"
echo "host / place seconds, measured host, place, place, host (higher is better)"
echo "busybox time has 10 ms resolution: tiny sizes give meaningless rates."
printf '%-8s %-8s %14s %14s %14s %14s %14s %14s\n' engine place "write MB/s" "read MB/s" "disk wr MB/s" "disk rd MB/s" "untar f/s" "tar f/s"
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
            if [ -z "$s" ] && [ "$place" = nosec ] && [ "$t" != untar ] && [ "$t" != tar ]; then
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
echo
echo "write and read: the page cache, through the mount (what the volume or bind adds); disk wr and disk rd:"
echo "the disk itself, which varies by 10-20% from one pass to the next on a VM's virtual disk, the host's too."
echo "nosec: berth without its seccomp filter, which costs every system call a few percent (tar is nothing but those)."
if [ "${#FAILED[@]}" -gt 0 ]; then
    echo
    echo "failures (first lines):"
    for k in "${!FAILED[@]}"; do
        echo "  $k: $(head -c 300 <<< "${FAILED[$k]}" | head -3 | tr '\n' ' ')"
    done
fi
