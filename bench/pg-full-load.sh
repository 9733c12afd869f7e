#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL full load: OpenDTS beside pg_dump | psql and a raw COPY pipe.
# Usage: bench/pg-full-load.sh [ROWS]            (default 2,000,000)
# Env:   PGHOST PGPORT PGUSER PGPASSWORD (default 127.0.0.1 54321 postgres opendts-root; the server needs
#        wal_level=logical, e.g. scripts/db/start-postgres.sh 54321), OPENDTS_BIN, and
#        OPENDTS_SERVE_ARGS (extra `opendts serve` options, e.g. "--full-load-workers 2"),
#        CHAR_TYPE (char or varchar, the type of c and pad; default char),
#        ROUNDS (default 1): run (a), (b), (c) that many times, each round starting with the next method,
#        and report medians, which this machine's run-to-run noise (about +-15 %) needs before two
#        methods can be compared.
#
# A source database gets a sysbench-shaped table sbtest1 (id bigint PRIMARY KEY, k int with an index,
# c char(120), pad char(60), filled the way sysbench fills it) of ROWS rows, vacuumed and analyzed. The same
# table is then copied into a fresh destination database on the same server three ways:
#   (a) OpenDTS, release build: a MIGRATION job with StructureInitialization + DataInitialization (no
#       DataSynchronization); timed from StartDtsJob until the job is Finished (DescribeDtsJobDetail polled
#       every 0.05 s), so precheck, schema, full load and the index built after the data are all inside.
#   (b) pg_dump -t public.sbtest1 SRC | psql DST: schema + data + primary key + index.
#   (c) psql -c "COPY sbtest1 TO STDOUT" | psql -c "COPY sbtest1 FROM STDIN" into a pre-created table with
#       its primary key (the physical limit of one stream), then CREATE INDEX on k so that the end state is
#       the same as (a) and (b); the COPY alone is printed too.
# A CHECKPOINT and a `sync` run before each method. MB are the bytes of the table's COPY text (what every method moves);
# pg_total_relation_size is printed for reference. After each method the destination's row count, an
# order-independent hash of every row and an md5 of every 997th row (by id) must equal the source's.
set -euo pipefail
source "$(dirname "$0")/lib-pg.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROWS="${1:-2000000}"
ROUNDS="${ROUNDS:-1}"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -gt 0 ]] || die "ROUNDS must be a positive number"
[[ "$ROWS" =~ ^[0-9]+$ && "$ROWS" -gt 0 ]] || die "usage: $0 [ROWS]"
CHAR_TYPE="${CHAR_TYPE:-char}"
[[ "$CHAR_TYPE" == char || "$CHAR_TYPE" == varchar ]] || die "CHAR_TYPE must be char or varchar"
read -r -a SERVE_ARGS <<<"${OPENDTS_SERVE_ARGS:-}"

ensure_binary
header "PostgreSQL -> PostgreSQL full load, $ROWS rows (c, pad: $CHAR_TYPE)" \
  "(a) OpenDTS MIGRATION job (schema + full load), StartDtsJob -> Finished, polled every 0.05 s; serve ${SERVE_ARGS[*]:-(defaults)}" \
  "(b) pg_dump -t public.sbtest1 | psql (schema + data + keys)" \
  "(c) psql COPY TO STDOUT | psql COPY FROM STDIN into a pre-created table with its PK, then CREATE INDEX on k"

SRC="odts_${RUN_TAG}_src"
new_db "$SRC"

# sysbench's shape: c is 10 groups of 11 random digits joined by '-', pad 5 groups; k random.
digits="lpad((random() * 99999999999)::bigint::text, 11, '0')"
group() { local n="$1" out="" i; for ((i = 0; i < n; i++)); do out+="${out:+ || '-' || }$digits"; done; echo "$out"; }
DDL="CREATE TABLE sbtest1 (id bigint NOT NULL PRIMARY KEY, k int NOT NULL DEFAULT 0,
                           c $CHAR_TYPE(120) NOT NULL DEFAULT '', pad $CHAR_TYPE(60) NOT NULL DEFAULT '')"
echo "filling $SRC.sbtest1 with $ROWS rows ..."
t=$(now)
q "$SRC" "$DDL" >/dev/null
step=500000
for ((lo = 1; lo <= ROWS; lo += step)); do
  hi=$((lo + step - 1)); ((hi > ROWS)) && hi=$ROWS
  q "$SRC" "INSERT INTO sbtest1 (id, k, c, pad) SELECT g, (random() * $ROWS)::int, $(group 10), $(group 5)
            FROM generate_series($lo, $hi) g" >/dev/null
done
q "$SRC" "CREATE INDEX k_1 ON sbtest1 (k)" >/dev/null
q "$SRC" "VACUUM (ANALYZE) sbtest1" >/dev/null # hint bits and visibility map set: no method pays for them
COPY_BYTES=$(psql -X -q -d "$SRC" -c "COPY sbtest1 TO STDOUT" | wc -c) # also warms the page cache
REL_BYTES=$(q "$SRC" "SELECT pg_total_relation_size('sbtest1')")
MB=$(fdiv "$COPY_BYTES" 1048576 1)
echo "filled in $(fsub "$(now)" "$t") s: COPY text $MB MB, pg_total_relation_size $(fdiv "$REL_BYTES" 1048576 1) MB"

# count | sum of a hash of every row | md5 of every 997th row in id order
FINGERPRINT="SELECT count(*) || ' ' || coalesce(sum(hashtext(t::text)), 0) || ' ' ||
                    md5(coalesce(string_agg(t::text, '|' ORDER BY id) FILTER (WHERE id % 997 = 0), ''))
             FROM sbtest1 t"
SRC_FP="$(q "$SRC" "$FINGERPRINT")"
[[ "${SRC_FP%% *}" == "$ROWS" ]] || die "source holds ${SRC_FP%% *} rows, not $ROWS"

verify() { # verify METHOD DB
  local fp idx
  fp="$(q "$2" "$FINGERPRINT")" || die "$1: cannot read sbtest1 in $2"
  if [[ "$fp" != "$SRC_FP" ]]; then
    show_diff "$SRC" "$2"
    mismatch "$1: the destination differs from the source: count/hash/md5 '$fp' vs '$SRC_FP'"
    return 0
  fi
  idx="$(q "$2" "SELECT string_agg(indexdef, '; ' ORDER BY indexname) FROM pg_indexes WHERE tablename = 'sbtest1'")"
  [[ "$idx" == *"(id)"* && "$idx" == *"(k)"* ]] || mismatch "$1: indexes on the destination are not the source's: $idx"
  [[ "$fp" == "$SRC_FP" ]] && echo "  $1 verified: $ROWS rows, hash and sample md5 equal to the source; indexes: $idx"
}

LOADS=()
record() { LOADS+=("$(cut -d' ' -f1-3 /proc/loadavg)"); }
SECS_A=() SECS_B=() SECS_C=() COPY_ONLY=() DATA_SECS=() CPU_A=() RSS=()

# ---- (a) OpenDTS --------------------------------------------------------------------------------
run_a() { # run_a ROUND
  local dst="odts_${RUN_TAG}_dts$1" job out cpu0 slots
  new_db "$dst"
  start_opendts "${SERVE_ARGS[@]}"
  job="$(dts create MIGRATION)"
  _JOBS+=("$job")
  dts configure "$job" MIGRATION "$SRC" "$dst" false
  checkpoint
  echo "(a) OpenDTS job $job, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
  record
  cpu0="$(dts_cpu_secs)"
  out="$(dts full-load "$job")"
  CPU_A+=("$(fsub "$(dts_cpu_secs)" "$cpu0")")
  SECS_A+=("$(python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["total"])' <<<"$out")")
  DATA_SECS+=("$(python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["data"])' <<<"$out")")
  RSS+=("$(dts_peak_rss_mib)")
  slots="$(q postgres "SELECT count(*) FROM pg_replication_slots WHERE database = '$SRC'")"
  dts delete "$job"
  _JOBS=()
  verify "(a)" "$dst"
  echo "  data phase (DataInitialization Migrating -> Finished, +-0.05 s): ${DATA_SECS[-1]} s; slots on the source after Finished: $slots"
  NOTES="$(dts_log_notes)"
  [[ -z "$NOTES" ]] || DTS_KEEP_LOG=1
  stop_opendts
  q postgres "DROP DATABASE $dst WITH (FORCE)" >/dev/null
}

# ---- (b) pg_dump | psql -------------------------------------------------------------------------
run_b() {
  local dst="odts_${RUN_TAG}_dump$1" t
  new_db "$dst"
  checkpoint
  echo "(b) pg_dump | psql, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
  record
  t=$(now)
  pg_dump --no-owner -t public.sbtest1 -d "$SRC" | psql -X -q -v ON_ERROR_STOP=1 -d "$dst" >/dev/null
  SECS_B+=("$(fsub "$(now)" "$t")")
  verify "(b)" "$dst"
  q postgres "DROP DATABASE $dst WITH (FORCE)" >/dev/null
}

# ---- (c) raw COPY pipe --------------------------------------------------------------------------
run_c() {
  local dst="odts_${RUN_TAG}_copy$1" t t_copy
  new_db "$dst"
  q "$dst" "$DDL" >/dev/null
  checkpoint
  echo "(c) COPY | COPY, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
  record
  t=$(now)
  psql -X -q -d "$SRC" -c "COPY sbtest1 TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d "$dst" -c "COPY sbtest1 FROM STDIN" >/dev/null
  t_copy=$(now)
  q "$dst" "CREATE INDEX k_1 ON sbtest1 (k)" >/dev/null
  SECS_C+=("$(fsub "$(now)" "$t")")
  COPY_ONLY+=("$(fsub "$t_copy" "$t")")
  verify "(c)" "$dst"
  q postgres "DROP DATABASE $dst WITH (FORCE)" >/dev/null
}

# Each round starts with the next method, so that none always runs first (after the fill) or right after
# the same other one.
ORDER=(a b c)
for ((round = 1; round <= ROUNDS; round++)); do
  ((ROUNDS == 1)) || echo "--- round $round of $ROUNDS"
  for ((m = 0; m < 3; m++)); do
    "run_${ORDER[(round - 1 + m) % 3]}" "$round"
  done
done

# ---- report -------------------------------------------------------------------------------------
line() { # line LABEL SECONDS
  printf '%-34s %8.2f s %11.0f rows/s %8.1f MB/s\n' "$1" "$2" "$(fdiv "$ROWS" "$2" 3)" "$(fdiv "$MB" "$2" 3)"
}
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
echo
echo "rows: $ROWS; MB = COPY text of the table ($MB MB; pg_total_relation_size $(fdiv "$REL_BYTES" 1048576 1) MB)"
if ((ROUNDS > 1)); then
  echo "per round: (a) OpenDTS / (b) pg_dump|psql / (c) COPY pipe + index (pipe alone) seconds, then a/b and a/c"
  for ((i = 0; i < ROUNDS; i++)); do
    printf '  round %d: %6.2f / %6.2f / %6.2f (%5.2f)   a/b %4s %%   a/c %4s %%\n' "$((i + 1))" "${SECS_A[i]}" "${SECS_B[i]}" \
      "${SECS_C[i]}" "${COPY_ONLY[i]}" "$(pct "${SECS_B[i]}" "${SECS_A[i]}")" "$(pct "${SECS_C[i]}" "${SECS_A[i]}")"
  done
  echo "medians over $ROUNDS rounds:"
fi
A="$(median "${SECS_A[@]}")" B="$(median "${SECS_B[@]}")" C="$(median "${SECS_C[@]}")" P="$(median "${COPY_ONLY[@]}")"
line "(a) OpenDTS full load" "$A"
line "(b) pg_dump | psql" "$B"
line "(c) COPY | COPY + CREATE INDEX k" "$C"
line "    (c) of which the COPY pipe" "$P"
echo "OpenDTS peak RSS (VmHWM): $(printf '%s\n' "${RSS[@]}" | sort -n | tail -n1) MiB   (target < 300 MiB)"
echo "OpenDTS CPU during (a):   $(median "${CPU_A[@]}") s user+system"
echo "OpenDTS data phase alone: $(median "${DATA_SECS[@]}") s"
RATIOS_B=() RATIOS_C=() RATIOS_P=()
for ((i = 0; i < ROUNDS; i++)); do
  RATIOS_B+=("$(pct "${SECS_B[i]}" "${SECS_A[i]}")") RATIOS_C+=("$(pct "${SECS_C[i]}" "${SECS_A[i]}")")
  RATIOS_P+=("$(pct "${COPY_ONLY[i]}" "${SECS_A[i]}")")
done
echo "OpenDTS as % of (c):      $(median "${RATIOS_C[@]}") %   (throughput ratio, median of rounds; target >= 80 %; of the COPY pipe alone: $(median "${RATIOS_P[@]}") %)"
echo "OpenDTS as % of (b):      $(median "${RATIOS_B[@]}") %   (median of rounds; target >= 100 %)"
echo "loadavg at the start of each method: ${LOADS[*]}"
if [[ -n "${NOTES:-}" ]]; then
  echo "OpenDTS server log, warnings/errors:"
  echo "$NOTES"
fi
report_mismatches
