# Shared by the bench scripts (sourced; they cd to the repository root first).

# stats FILE_PREFIX [DECIMALS] -> "median p90 ok fail" from FILE_PREFIX.ms (one
# time per line) and FILE_PREFIX.fail (one line per failed run), nearest-rank
# percentiles printed with DECIMALS digits (default 1); "- - 0 N" when nothing
# succeeded.
stats() {
    local prefix="$1" decimals="${2:-1}" ok fail
    ok=$(wc -l < "$prefix.ms")
    fail=$(wc -l < "$prefix.fail")
    if [ "$ok" = 0 ]; then
        echo "- - 0 $fail"
        return
    fi
    sort -n "$prefix.ms" | awk -v ok="$ok" -v fail="$fail" -v d="$decimals" '
        { v[NR] = $1 }
        END {
            m = int((NR * 50 + 99) / 100); if (m < 1) m = 1
            p = int((NR * 90 + 99) / 100); if (p < 1) p = 1
            printf "%.*f %.*f %d %d\n", d, v[m], d, v[p], ok, fail
        }'
}

# Timing without forks: `t0=$EPOCHREALTIME` before the timed command, then
# `ms_since "$t0"` (or `ms_between "$t0" "$t1"`) prints the milliseconds with
# one decimal. Taking the time with $(date +%s%N) and computing with awk cost
# about 1.2 ms of forks per measurement here, added to every engine's time.
ms_between() {
    local a="${1/,/.}" b="${2/,/.}" d
    d=$(( (${b%.*} - ${a%.*}) * 1000000 + 10#${b#*.} - 10#${a#*.} ))
    printf '%d.%d\n' $((d / 1000)) $(((d % 1000) / 100))
}
ms_since() { ms_between "$1" "$EPOCHREALTIME"; }

# ratio A B -> "A/B" as "0.25x"; "n/a" when either is "fail", "-" (what stats
# gives when nothing succeeded) or empty, or B is 0.
ratio() {
    case "$1/$2" in
        fail/* | */fail | -/* | */- | /* | */) echo "n/a" ;;
        *) awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2fx", a / b }' ;;
    esac
}

# report_header WHAT [DOCKERD_NOTE [PODMAN_NOTE]]: the report's first lines: a
# blank line, "berth WHAT bench, <date>: <machine>", and the clients and
# versions (with DOCKERD_NOTE, e.g. " (userland proxy on)", after dockerd's
# version and PODMAN_NOTE after podman's). Uses BERTH_CLIENT, DOCKER_CLI and
# docker_ from bench/engines.sh.
report_header() {
    echo
    echo "berth $1 bench, $(date -u '+%Y-%m-%d %H:%M UTC'): kernel $(uname -r), $(nproc) cpus, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    printf "clients: berth via %s; docker CLI %s -> dockerd %s%s; podman %s%s\n" \
        "$( [ "$BERTH_CLIENT" = berth ] && echo "the berth CLI" || echo "the docker CLI")" \
        "$("$DOCKER_CLI" version --format '{{.Client.Version}}' 2>/dev/null)" \
        "$(docker_ version --format '{{.Server.Version}}' 2>/dev/null)" \
        "${2:-}" \
        "$(podman --version | awk '{ print $3 }')" \
        "${3:-}"
}

# ratio_table HEADING WIDTH KEY=LABEL...: a row per KEY, labelled LABEL in a
# first column WIDTH wide headed HEADING: RESULT[KEY,berth|docker|podman]
# ("fail" where missing) and the ratios berth/docker and berth/podman.
ratio_table() {
    local heading="$1" width="$2" pair key label b d p
    shift 2
    printf "%-${width}s %10s %10s %10s %14s %14s\n" "$heading" berth docker podman berth/docker berth/podman
    for pair in "$@"; do
        key="${pair%%=*}" label="${pair#*=}"
        b="${RESULT[$key,berth]:-fail}" d="${RESULT[$key,docker]:-fail}" p="${RESULT[$key,podman]:-fail}"
        printf "%-${width}s %10s %10s %10s %14s %14s\n" "$label" "$b" "$d" "$p" "$(ratio "$b" "$d")" "$(ratio "$b" "$p")"
    done
}

# report_failures: a line per entry of FAILED ("FAILED STEP on ENGINE:
# MESSAGE"); returns 1 if there was any.
report_failures() {
    local key status=0
    for key in "${!FAILED[@]}"; do
        echo "FAILED ${key/,/ on }: ${FAILED[$key]}"
        status=1
    done
    return $status
}

# make_layout: an OCI image layout in $WORK/layout (tag "bench") of $LAYERS gzip
# layers of random bytes, $SIZE_MB MiB in all (so gzip does not shrink them), for
# bench/registry.sh and bench/pull.sh. Uses $WORK for scratch files.
make_layout() {
    local dir="$WORK/layout" per=$(( SIZE_MB * 1024 / LAYERS )) i d size diffs="" layers="" cfg
    mkdir -p "$dir/blobs/sha256" "$WORK/l"
    for i in $(seq 1 "$LAYERS"); do
        rm -rf "${WORK:?}/l"/*
        head -c "${per}K" /dev/urandom > "$WORK/l/data$i"
        tar -C "$WORK/l" -cf "$WORK/layer.tar" "data$i"
        diffs="$diffs\"sha256:$(sha256sum < "$WORK/layer.tar" | cut -d' ' -f1)\","
        gzip -1 -n -c "$WORK/layer.tar" > "$WORK/layer.tgz"
        d=$(sha256sum < "$WORK/layer.tgz" | cut -d' ' -f1)
        size=$(stat -c %s "$WORK/layer.tgz")
        mv "$WORK/layer.tgz" "$dir/blobs/sha256/$d"
        layers="$layers{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$size},"
    done
    rm -rf "$WORK/l" "$WORK/layer.tar"
    cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diffs%,}]}}"
    printf '%s' "$cfg" > "$WORK/cfg"
    d=$(sha256sum < "$WORK/cfg" | cut -d' ' -f1)
    mv "$WORK/cfg" "$dir/blobs/sha256/$d"
    printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%d},"layers":[%s]}' \
        "$d" "${#cfg}" "${layers%,}" > "$WORK/m"
    d=$(sha256sum < "$WORK/m" | cut -d' ' -f1)
    size=$(stat -c %s "$WORK/m")
    mv "$WORK/m" "$dir/blobs/sha256/$d"
    printf '{"imageLayoutVersion":"1.0.0"}' > "$dir/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"bench"}}]}' \
        "$d" "$size" > "$dir/index.json"
}
