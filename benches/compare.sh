#!/usr/bin/env bash
# Compares logspike with the tools its users know, on the same generated
# nginx logs, in one run, and prints each speed goal with the ratio this
# run measured:
#
#   wc -l; logspike report (1 and 2 threads, `combined` and `upstream`),
#   check, export; DuckDB (regex and split_part group-bys, regex COPY to
#   Parquet); GoAccess (on a 100 MB slice: it is slow); pigz -dc against
#   logspike on one .gz and on a rotated set of four.
#
#   benches/compare.sh [SIZE_MB] [BIG_SIZE_MB]
#
# SIZE_MB defaults to 1000; with BIG_SIZE_MB (e.g. 4000) logspike's peak
# memory is also measured on a log that much larger. Installs GoAccess and
# pigz with apt-get and DuckDB with pip when they are missing. Figures are
# medians of RUNS runs (3 unless RUNS is set). The machine is shared and
# noisy, so each goal that compares two commands runs them in turn, A B A
# B ..., and takes the median of the pairs' ratios. "per CPU-second"
# divides the input by user + system time.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1000}
BIG=${2:-}
DIR=target/compare
mkdir -p "$DIR"
LOG=$DIR/combined-$SIZE.log
UPLOG=$DIR/upstream-$SIZE.log

if ! command -v goaccess >/dev/null || ! command -v pigz >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq goaccess pigz) >/dev/null 2>&1 || echo "could not install goaccess/pigz"
fi
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1 || echo "could not install duckdb"

cargo build --release -q
cargo bench --bench parse --no-run -q 2>/dev/null
BENCH=$(ls -t target/release/deps/parse-* | grep -v '\.d$' | head -1)
[ -f "$LOG" ] || "$BENCH" --write "$LOG" --mb "$SIZE" --grammar nginx-combined
[ -f "$UPLOG" ] || "$BENCH" --write "$UPLOG" --mb "$SIZE" --grammar nginx-upstream
gz() { pigz -k -c "$1" 2>/dev/null || gzip -k -c "$1"; }
[ -f "$LOG.gz" ] || gz "$LOG" > "$LOG.gz"
# A rotated set: the same log in four gzip files.
ROT=$DIR/rotated-$SIZE
if [ ! -f "$ROT/access.log.4.gz" ]; then
  rm -rf "$ROT" && mkdir -p "$ROT"
  split -n l/4 -d "$LOG" "$ROT/part"
  i=4; for part in "$ROT"/part*; do gz "$part" > "$ROT/access.log.$i.gz"; rm "$part"; i=$((i - 1)); done
fi
head -c 100M "$LOG" | sed '$d' > "$DIR/slice-100.log"

MB=$(( $(stat -c %s "$LOG") / 1000000 ))
UPMB=$(( $(stat -c %s "$UPLOG") / 1000000 ))
SLICE_MB=$(( $(stat -c %s "$DIR/slice-100.log") / 1000000 ))
LS=target/release/logspike

RUNS=${RUNS:-3}

# The median of numbers on standard input.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# Runs a command once; prints its wall time, CPU time (user + system) and
# RSS in KB, or fails with what it said.
once() {
  if ! /usr/bin/time -f "%e %U %S %M" -o "$DIR/time.txt" "$@" >/dev/null 2>"$DIR/stderr.txt"; then
    echo "failed: $* ($(tail -1 "$DIR/stderr.txt"))" >&2
    return 1
  fi
  awk '{ print $1, $2 + $3, $4 }' < <(tail -1 "$DIR/time.txt")
}

# Runs a command RUNS times; prints the median wall time, the median CPU
# time and the largest RSS in KB ("0 0 0" when a run failed).
measure() {
  local walls=() cpus=() rss=0 t c m
  for _ in $(seq "$RUNS"); do
    read -r t c m < <(once "$@" || echo "0 0 0")
    [ "$t" = 0 ] && { echo "0 0 0"; return; }
    walls+=("$t"); cpus+=("$c"); [ "$m" -gt "$rss" ] && rss=$m
  done
  echo "$(printf '%s\n' "${walls[@]}" | median) $(printf '%s\n' "${cpus[@]}" | median) $rss"
}

# paired A... -- B...: runs the two commands in turn, A B A B ..., RUNS
# times each, so that a ratio compares runs that met the same state of a
# shared machine (its speed can move by a third within the hour). Prints
# A's median wall, CPU and largest RSS, the same for B, and the median of
# the runs' wall-time ratios A/B ("nan" when a run failed).
paired() {
  local a=() walls_a=() cpus_a=() walls_b=() cpus_b=() ratios=() rss_a=0 rss_b=0 ta ca ma tb cb mb
  while [ "$1" != "--" ]; do a+=("$1"); shift; done
  shift
  for _ in $(seq "$RUNS"); do
    read -r ta ca ma < <(once "${a[@]}" || echo "0 0 0")
    read -r tb cb mb < <(once "$@" || echo "0 0 0")
    if [ "$ta" = 0 ] || [ "$tb" = 0 ]; then echo "0 0 0 0 0 0 nan"; return; fi
    walls_a+=("$ta"); cpus_a+=("$ca"); walls_b+=("$tb"); cpus_b+=("$cb")
    [ "$ma" -gt "$rss_a" ] && rss_a=$ma
    [ "$mb" -gt "$rss_b" ] && rss_b=$mb
    ratios+=("$(awk -v a="$ta" -v b="$tb" 'BEGIN { print (a > 0 && b > 0 ? a / b : "nan") }')")
  done
  # A run too short for the clock's hundredths has no ratio.
  printf '%s\n' "${ratios[@]}" | grep -q nan && ratios=(nan)
  echo "$(printf '%s\n' "${walls_a[@]}" | median) $(printf '%s\n' "${cpus_a[@]}" | median) $rss_a" \
    "$(printf '%s\n' "${walls_b[@]}" | median) $(printf '%s\n' "${cpus_b[@]}" | median) $rss_b" \
    "$(printf '%s\n' "${ratios[@]}" | median)"
}

row() { # name, MB of input, median seconds, CPU seconds, rss KB
  awk -v n="$1" -v mb="$2" -v s="$3" -v c="$4" -v k="$5" 'BEGIN {
    printf "| %s | %.2f s | %.0f MB/s | %.2f s | %.0f MB | %.0f MB |\n",
      n, s, (s > 0 ? mb / s : 0), c, (c > 0 ? mb / c : 0), k / 1024 }'
}

echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "combined: $LOG ($MB MB); upstream: $UPLOG ($UPMB MB); GoAccess slice: $SLICE_MB MB"
echo
echo "| command | wall | MB/s | CPU | MB per CPU-s | peak |"
echo "|---|---|---|---|---|---|"
# Each goal that compares two commands takes its ratio from a paired run.
read -r TWO TWO_CPU TWO_RSS WC _ WC_RSS R_WC < <(paired "$LS" report --threads 2 "$LOG" -- wc -l "$LOG")
row "wc -l" "$MB" "$WC" 0 "$WC_RSS"
read -r ONE ONE_CPU m _ _ _ R_THREADS < <(paired "$LS" report --threads 1 "$LOG" -- "$LS" report --threads 2 "$LOG")
row "logspike report, 1 thread" "$MB" "$ONE" "$ONE_CPU" "$m"
row "logspike report, 2 threads" "$MB" "$TWO" "$TWO_CPU" "$TWO_RSS"
read -r UP UP_CPU UP_RSS UPWC _ m R_UPWC < <(paired "$LS" report "$UPLOG" -- wc -l "$UPLOG")
row "logspike report, \`upstream\` log" "$UPMB" "$UP" "$UP_CPU" "$UP_RSS"
row "wc -l, \`upstream\` log" "$UPMB" "$UPWC" 0 "$m"
read -r CHK CHK_CPU m < <(measure "$LS" check --threads 1 "$LOG"); row "logspike check, 1 thread" "$MB" "$CHK" "$CHK_CPU" "$m"
read -r GZ GZ_CPU GZ_RSS PIGZ PIGZ_CPU PIGZ_RSS R_GZ < <(paired "$LS" check "$LOG.gz" -- pigz -dc "$LOG.gz")
row "logspike check, one .gz" "$MB" "$GZ" "$GZ_CPU" "$GZ_RSS"
read -r RGZ RGZ_CPU m < <(measure "$LS" report "$LOG.gz");    row "logspike report, one .gz" "$MB" "$RGZ" "$RGZ_CPU" "$m"
row "pigz -dc, same .gz" "$MB" "$PIGZ" "$PIGZ_CPU" "$PIGZ_RSS"
read -r SET SET_CPU SET_RSS PSET PSET_CPU PSET_RSS R_SET < <(paired "$LS" check "$ROT"/access.log.*.gz -- pigz -dc "$ROT"/access.log.*.gz)
row "logspike check, rotated set of 4 .gz" "$MB" "$SET" "$SET_CPU" "$SET_RSS"
row "pigz -dc, same set" "$MB" "$PSET" "$PSET_CPU" "$PSET_RSS"

DUCK=; DUCKSPLIT=; DUCKCOPY=
if python3 -c 'import duckdb' 2>/dev/null; then
  # Not named duckdb.py: that would shadow the module it imports.
  cat > "$DIR/query.py" <<PY
import duckdb
duckdb.sql(r"""
  SELECT date_trunc('minute', strptime(regexp_extract(line, '\[([^\]]+)\]', 1), '%d/%b/%Y:%H:%M:%S %z')) AS minute,
         regexp_extract(line, '" (\d{3}) ', 1) AS status, count(*) AS n
  FROM read_csv('$LOG', columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false)
  GROUP BY ALL
""").fetchall()
PY
  read -r DUCK c m _ _ _ R_DUCK < <(paired python3 "$DIR/query.py" -- "$LS" report --threads 2 "$LOG")
  row "DuckDB regex group-by" "$MB" "$DUCK" "$c" "$m"
  # The same answer from fixed positions: fast, and wrong for any line
  # whose request holds a space or a quote.
  cat > "$DIR/query_split.py" <<PY
import duckdb
duckdb.sql(r"""
  SELECT date_trunc('minute', strptime(split_part(split_part(line, '[', 2), ']', 1), '%d/%b/%Y:%H:%M:%S %z')) AS minute,
         split_part(line, ' ', 9) AS status, count(*) AS n
  FROM read_csv('$LOG', columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false)
  GROUP BY ALL
""").fetchall()
PY
  read -r DUCKSPLIT c m _ _ _ R_DUCKSPLIT < <(paired python3 "$DIR/query_split.py" -- "$LS" report --threads 2 "$LOG")
  row "DuckDB split_part group-by" "$MB" "$DUCKSPLIT" "$c" "$m"
fi

# Parquet: logspike export (all columns) against DuckDB parsing the same
# log with regexes and writing the main columns with COPY ... (FORMAT parquet).
EXPORT_CMD=(sh -c "rm -rf '$DIR/export' && '$LS' export --parquet '$DIR/export' '$LOG'")
# Rollups of the same log: per-minute sums (docs/parquet.md), and their
# size per million requests.
read -r ROLLUP c m < <(measure sh -c "rm -rf '$DIR/rollup' && '$LS' export --rollup 1m --parquet '$DIR/rollup' '$LOG'")
row "logspike export --rollup 1m" "$MB" "$ROLLUP" "$c" "$m"
REQUESTS=$(wc -l < "$LOG")
ROLLUP_KB=$(du -sk "$DIR/rollup" | cut -f1)
SIZES="rollup size: $(awk -v k="$ROLLUP_KB" -v n="$REQUESTS" 'BEGIN { printf "%.2f MB per million requests (%d KB for %d)", k / 1024 / (n / 1e6), k, n }')"
if ! python3 -c 'import duckdb' 2>/dev/null; then
  read -r EXPORT c EXPORT_RSS < <(measure "${EXPORT_CMD[@]}")
  row "logspike export (Parquet, all columns, zstd)" "$MB" "$EXPORT" "$c" "$EXPORT_RSS"
else
  cat > "$DIR/export_query.py" <<PY
import duckdb
duckdb.sql(r"""
COPY (
  SELECT strptime(regexp_extract(line, '\[([^\]]+)\]', 1), '%d/%b/%Y:%H:%M:%S %z') AS timestamp,
         CAST(regexp_extract(line, '" (\d{3}) ', 1) AS USMALLINT) AS status,
         regexp_extract(line, '"([A-Z]+) ', 1) AS method,
         regexp_extract(line, '"[A-Z]+ ([^ ?"]*)', 1) AS path,
         regexp_extract(line, '^(\S+)', 1) AS remote_addr,
         TRY_CAST(regexp_extract(line, '" \d{3} (\d+)', 1) AS UBIGINT) AS bytes,
         regexp_extract(line, '" \d{3} \S+ "([^"]*)"', 1) AS referer,
         regexp_extract(line, '"([^"]*)"\$', 1) AS user_agent
  FROM read_csv('$LOG', columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false)
) TO '$DIR/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd)
""")
PY
  read -r DUCKCOPY c m EXPORT EXPORT_CPU EXPORT_RSS R_COPY < <(paired python3 "$DIR/export_query.py" -- "${EXPORT_CMD[@]}")
  row "logspike export (Parquet, all columns, zstd)" "$MB" "$EXPORT" "$EXPORT_CPU" "$EXPORT_RSS"
  row "DuckDB regex COPY to Parquet (8 columns)" "$MB" "$DUCKCOPY" "$c" "$m"
  # The size goal is for the same columns: logspike writes all of them,
  # DuckDB's COPY only eight, so compare the column chunks of those eight
  # (compressed, as the files' own metadata gives them).
  cat > "$DIR/sizes.py" <<PY
import duckdb
cols = "('timestamp', 'status', 'method', 'path', 'remote_addr', 'bytes', 'referer', 'user_agent')"
size = "SELECT sum(total_compressed_size) / 1e6 FROM parquet_metadata('{}') WHERE path_in_schema IN " + cols
print(round(duckdb.sql(size.format('$DIR/export/**/*.parquet')).fetchall()[0][0], 1),
      round(duckdb.sql(size.format('$DIR/duckdb.parquet')).fetchall()[0][0], 1))
PY
  read -r EXPORT_MB DUCK_MB < <(python3 "$DIR/sizes.py")
  SIZES="$SIZES
export: $(du -sm "$DIR/export" | cut -f1) MB for all columns; the eight DuckDB writes: $EXPORT_MB MB, DuckDB's $DUCK_MB MB"
fi

if command -v goaccess >/dev/null; then
  read -r t c m < <(measure goaccess "$DIR/slice-100.log" --log-format=COMBINED -o "$DIR/goaccess.json"); row "GoAccess (100 MB slice)" "$SLICE_MB" "$t" "$c" "$m"
fi

if [ -n "$BIG" ]; then
  BIGLOG=$DIR/combined-$BIG.log
  [ -f "$BIGLOG" ] || "$BENCH" --write "$BIGLOG" --mb "$BIG" --grammar nginx-combined
  read -r t c BIG_RSS < <(measure "$LS" report "$BIGLOG")
  row "logspike report, $BIG MB log" "$(( $(stat -c %s "$BIGLOG") / 1000000 ))" "$t" "$c" "$BIG_RSS"
fi

# One line per goal: what was measured, the goal, met or not.
goal() { # text, measured, goal, "ge" or "le"
  awk -v t="$1" -v v="$2" -v g="$3" -v d="$4" 'BEGIN {
    if (v == "nan") { printf "| %s | - | %s %s | not measured |\n", t, (d == "ge" ? ">=" : "<="), g; exit }
    met = (d == "ge") ? (v >= g) : (v <= g)
    printf "| %s | %.2f | %s %s | %s |\n", t, v, (d == "ge" ? ">=" : "<="), g, (met ? "met" : "not met") }'
}
# a / b; "nan" when either was not measured (a failed or too short run).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print ((a != "nan" && b != "nan" && a + 0 > 0 && b + 0 > 0) ? a / b : "nan") }'; }
# Printed after the table, which a line between its rows would cut.
echo
echo "$SIZES"
echo
echo "| goal | measured | target | |"
echo "|---|---|---|---|"
goal "report, \`combined\`: GB per CPU-second (1 thread)" "$(ratio "$MB" "$(ratio "$ONE_CPU" 0.001)")" 1 ge
goal "report, \`upstream\`: GB per CPU-second" "$(ratio "$UPMB" "$(ratio "$UP_CPU" 0.001)")" 1 ge
goal "report, 2 threads: times the wall time of \`wc -l\`" "$R_WC" 4 le
goal "report, \`upstream\`: times the wall time of \`wc -l\`" "$R_UPWC" 4 le
goal "report: peak memory, MB" "$(ratio "$TWO_RSS" 1024)" 200 le
goal "report, \`upstream\`: peak memory, MB" "$(ratio "$UP_RSS" 1024)" 200 le
goal "2 threads: times faster than 1" "$R_THREADS" 1.8 ge
goal "check: GB per CPU-second (1 thread)" "$(ratio "$MB" "$(ratio "$CHK_CPU" 0.001)")" 2 ge
goal "one .gz: times the wall time of \`pigz -dc\`" "$R_GZ" 1 le
goal "rotated set: times faster than \`pigz -dc\`" "$(ratio 1 "$R_SET")" 1.8 ge
if [ -n "$DUCKCOPY" ]; then
  goal "export: times DuckDB COPY's throughput" "$R_COPY" 5 ge
  goal "export: size of the same 8 columns against DuckDB's ($EXPORT_MB MB, $DUCK_MB MB)" "$(ratio "$EXPORT_MB" "$DUCK_MB")" 1 le
fi
goal "export: peak memory, MB" "$(ratio "$EXPORT_RSS" 1024)" 300 le
[ -n "$DUCK" ] && goal "report, 2 threads: times faster than DuckDB regex" "$R_DUCK" 1 ge
[ -n "$DUCKSPLIT" ] && goal "report, 2 threads: times faster than DuckDB split_part" "$R_DUCKSPLIT" 1 ge
[ -n "$BIG" ] && goal "peak memory at $BIG MB against $SIZE MB, %" "$(awk -v a="$TWO_RSS" -v b="$BIG_RSS" 'BEGIN { print (b - a) * 100 / a }')" 10 le
exit 0
