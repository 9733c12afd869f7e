#!/usr/bin/env bash
# PostgreSQL -> PostgreSQL full load: OpenDTS beside pg_dump | psql and a raw COPY pipe.
# Usage: bench/pg-full-load.sh [ROWS]            (default 2,000,000)
# Env:   PGHOST PGPORT PGUSER PGPASSWORD (default 127.0.0.1 54321 postgres opendts-root; the server needs
#        wal_level=logical, e.g. scripts/db/start-postgres.sh 54321), OPENDTS_BIN, and
#        OPENDTS_SERVE_ARGS (extra `opendts serve` options, e.g. "--full-load-workers 2"),
#        CHAR_TYPE (char or varchar, the type of c and pad; default char).
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
# A CHECKPOINT runs before each method. MB are the bytes of the table's COPY text (what every method moves);
# pg_total_relation_size is printed for reference. After each method the destination's row count, an
# order-independent hash of every row and an md5 of every 997th row (by id) must equal the source's.
set -euo pipefail
source "$(dirname "$0")/lib-pg.sh"
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

ROWS="${1:-2000000}"
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

declare -A SECS
LOADS=()
record() { LOADS+=("$(cut -d' ' -f1-3 /proc/loadavg)"); }

# ---- (a) OpenDTS --------------------------------------------------------------------------------
DST_A="odts_${RUN_TAG}_dts"
new_db "$DST_A"
start_opendts "${SERVE_ARGS[@]}"
JOB="$(dts create MIGRATION)"
_JOBS+=("$JOB")
dts configure "$JOB" MIGRATION "$SRC" "$DST_A" false
q postgres "CHECKPOINT" >/dev/null
echo "(a) OpenDTS job $JOB, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
record
CPU0="$(dts_cpu_secs)"
OUT="$(dts full-load "$JOB")"
CPU_A="$(fsub "$(dts_cpu_secs)" "$CPU0")"
SECS[a]="$(python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["total"])' <<<"$OUT")"
DATA_SECS="$(python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["data"])' <<<"$OUT")"
RSS="$(dts_peak_rss_mib)"
SLOTS_AFTER="$(q postgres "SELECT count(*) FROM pg_replication_slots WHERE database = '$SRC'")"
dts delete "$JOB"
_JOBS=()
verify "(a)" "$DST_A"
echo "  data phase (DataInitialization Migrating -> Finished, +-0.05 s): $DATA_SECS s; slots on the source after Finished: $SLOTS_AFTER"
NOTES="$(dts_log_notes)"
[[ -z "$NOTES" ]] || DTS_KEEP_LOG=1
stop_opendts
q postgres "DROP DATABASE $DST_A WITH (FORCE)" >/dev/null

# ---- (b) pg_dump | psql -------------------------------------------------------------------------
DST_B="odts_${RUN_TAG}_dump"
new_db "$DST_B"
q postgres "CHECKPOINT" >/dev/null
echo "(b) pg_dump | psql, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
record
t=$(now)
pg_dump --no-owner -t public.sbtest1 -d "$SRC" | psql -X -q -v ON_ERROR_STOP=1 -d "$DST_B" >/dev/null
SECS[b]="$(fsub "$(now)" "$t")"
verify "(b)" "$DST_B"
q postgres "DROP DATABASE $DST_B WITH (FORCE)" >/dev/null

# ---- (c) raw COPY pipe --------------------------------------------------------------------------
DST_C="odts_${RUN_TAG}_copy"
new_db "$DST_C"
q "$DST_C" "$DDL" >/dev/null
q postgres "CHECKPOINT" >/dev/null
echo "(c) COPY | COPY, loadavg $(cut -d' ' -f1-3 /proc/loadavg) ..."
record
t=$(now)
psql -X -q -d "$SRC" -c "COPY sbtest1 TO STDOUT" | psql -X -q -v ON_ERROR_STOP=1 -d "$DST_C" -c "COPY sbtest1 FROM STDIN" >/dev/null
t_copy=$(now)
q "$DST_C" "CREATE INDEX k_1 ON sbtest1 (k)" >/dev/null
SECS[c]="$(fsub "$(now)" "$t")"
COPY_ONLY="$(fsub "$t_copy" "$t")"
verify "(c)" "$DST_C"
q postgres "DROP DATABASE $DST_C WITH (FORCE)" >/dev/null

# ---- report -------------------------------------------------------------------------------------
line() { # line LABEL SECONDS
  printf '%-34s %8.2f s %11.0f rows/s %8.1f MB/s\n' "$1" "$2" "$(fdiv "$ROWS" "$2" 3)" "$(fdiv "$MB" "$2" 3)"
}
echo
echo "rows: $ROWS; MB = COPY text of the table ($MB MB; pg_total_relation_size $(fdiv "$REL_BYTES" 1048576 1) MB)"
line "(a) OpenDTS full load" "${SECS[a]}"
line "(b) pg_dump | psql" "${SECS[b]}"
line "(c) COPY | COPY + CREATE INDEX k" "${SECS[c]}"
line "    (c) of which the COPY pipe" "$COPY_ONLY"
echo "OpenDTS peak RSS (VmHWM): $RSS MiB   (target < 300 MiB)"
echo "OpenDTS CPU during (a):   $CPU_A s user+system"
echo "OpenDTS data phase alone: $DATA_SECS s ($(fdiv "$ROWS" "$DATA_SECS" 0) rows/s)"
echo "OpenDTS as % of (c):      $(pct "${SECS[c]}" "${SECS[a]}") %   (throughput ratio; target >= 80 %; of the COPY pipe alone: $(pct "$COPY_ONLY" "${SECS[a]}") %)"
echo "OpenDTS as % of (b):      $(pct "${SECS[b]}" "${SECS[a]}") %   (target >= 100 %)"
echo "loadavg at the start of (a) (b) (c): ${LOADS[0]} | ${LOADS[1]} | ${LOADS[2]}"
if [[ -n "$NOTES" ]]; then
  echo "OpenDTS server log, warnings/errors:"
  echo "$NOTES"
fi
report_mismatches
