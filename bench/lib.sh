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
