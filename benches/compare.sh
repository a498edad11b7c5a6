#!/usr/bin/env bash
# Compares logspike with the tools its users know, on the same generated
# nginx `combined` log, in one run: wc -l, GoAccess (on a 100 MB slice: it
# is slow), a DuckDB regex parse-and-group-by, and `logspike report` on 1
# and 2 threads, plain and gzip (against `pigz -dc`), with peak memory.
#
#   benches/compare.sh [SIZE_MB] [BIG_SIZE_MB]
#
# SIZE_MB defaults to 1000; with BIG_SIZE_MB (e.g. 4000) logspike's peak
# memory is also measured on a log that much larger. Installs GoAccess and
# pigz with apt-get and DuckDB with pip when they are missing. Figures are
# medians of 3 runs; the machine is noisy, so read ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-1000}
BIG=${2:-}
DIR=target/compare
mkdir -p "$DIR"
LOG=$DIR/combined-$SIZE.log

if ! command -v goaccess >/dev/null || ! command -v pigz >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq goaccess pigz) >/dev/null 2>&1 || echo "could not install goaccess/pigz"
fi
python3 -c 'import duckdb' 2>/dev/null || pip install -q duckdb >/dev/null 2>&1 || echo "could not install duckdb"

cargo build --release -q
cargo bench --bench parse --no-run -q 2>/dev/null
BENCH=$(ls -t target/release/deps/parse-* | grep -v '\.d$' | head -1)
[ -f "$LOG" ] || "$BENCH" --write "$LOG" --mb "$SIZE" --grammar nginx-combined
[ -f "$LOG.gz" ] || pigz -k -c "$LOG" > "$LOG.gz" 2>/dev/null || gzip -k -c "$LOG" > "$LOG.gz"
head -c 100M "$LOG" | sed '$d' > "$DIR/slice-100.log"

MB=$(( $(stat -c %s "$LOG") / 1000000 ))
SLICE_MB=$(( $(stat -c %s "$DIR/slice-100.log") / 1000000 ))
LS=target/release/logspike

# Runs a command 3 times; prints the median wall time and the largest RSS.
measure() {
  local times=() rss=0
  for _ in 1 2 3; do
    if ! /usr/bin/time -f "%e %M" -o "$DIR/time.txt" "$@" >/dev/null 2>"$DIR/stderr.txt"; then
      echo "failed: $* ($(tail -1 "$DIR/stderr.txt"))" >&2
      echo "0 0"
      return
    fi
    read -r t m < <(tail -1 "$DIR/time.txt")
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  local median
  median=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 2p)
  echo "$median $rss"
}

row() { # name, MB of input, median seconds, rss KB
  awk -v n="$1" -v mb="$2" -v s="$3" -v k="$4" \
    'BEGIN { printf "%-34s %8.2f s %9.0f MB/s %8.0f MB peak\n", n, s, (s > 0 ? mb / s : 0), k / 1024 }'
}

echo "input: $LOG ($MB MB), slice: $SLICE_MB MB; $(nproc) cores"
read -r t m < <(measure wc -l "$LOG");                      row "wc -l" "$MB" "$t" "$m"; WC=$t
read -r t m < <(measure "$LS" report --threads 1 "$LOG");   row "logspike report, 1 thread" "$MB" "$t" "$m"; ONE=$t
read -r t m < <(measure "$LS" report --threads 2 "$LOG");   row "logspike report, 2 threads" "$MB" "$t" "$m"; TWO=$t; TWO_RSS=$m
read -r t m < <(measure "$LS" report "$LOG.gz");            row "logspike report, gzip input" "$MB" "$t" "$m"; GZ=$t
if command -v pigz >/dev/null; then
  read -r t m < <(measure pigz -dc "$LOG.gz");              row "pigz -dc (same .gz)" "$MB" "$t" "$m"; PIGZ=$t
fi
if python3 -c 'import duckdb' 2>/dev/null; then
  # Not named duckdb.py: that would shadow the module it imports.
  cat > "$DIR/query.py" <<PY
import duckdb, sys
duckdb.sql(r"""
  SELECT date_trunc('minute', strptime(regexp_extract(line, '\[([^\]]+)\]', 1), '%d/%b/%Y:%H:%M:%S %z')) AS minute,
         regexp_extract(line, '" (\d{3}) ', 1) AS status, count(*) AS n
  FROM read_csv('$LOG', columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false)
  GROUP BY ALL
""").fetchall()
PY
  read -r t m < <(measure python3 "$DIR/query.py");         row "duckdb regex group-by" "$MB" "$t" "$m"; DUCK=$t
fi
# Parquet: logspike export (all columns) against DuckDB parsing the same
# log with regexes and writing the main columns with COPY ... (FORMAT parquet).
rm -rf "$DIR/export"
read -r t m < <(measure sh -c "rm -rf '$DIR/export' && '$LS' export --parquet '$DIR/export' '$LOG'")
row "logspike export (Parquet, zstd)" "$MB" "$t" "$m"; EXPORT=$t
EXPORT_MB=$(du -sm "$DIR/export" | cut -f1)
if python3 -c 'import duckdb' 2>/dev/null; then
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
  read -r t m < <(measure python3 "$DIR/export_query.py"); row "duckdb COPY to Parquet (8 columns)" "$MB" "$t" "$m"; DUCKCOPY=$t
  DUCK_MB=$(du -sm "$DIR/duckdb.parquet" | cut -f1)
fi

if command -v goaccess >/dev/null; then
  read -r t m < <(measure goaccess "$DIR/slice-100.log" --log-format=COMBINED -o "$DIR/goaccess.json"); row "goaccess (100 MB slice)" "$SLICE_MB" "$t" "$m"
fi

echo
awk -v wc="$WC" -v one="$ONE" -v two="$TWO" 'BEGIN {
  printf "report, 2 threads: %.1fx the time of wc -l (goal: within 4x)\n", two / wc
  printf "2 threads vs 1: %.2fx faster (goal: 1.8x)\n", one / two }'
[ -n "${PIGZ:-}" ] && awk -v gz="$GZ" -v p="$PIGZ" 'BEGIN { printf "gzip input: %.2fx the time of pigz -dc (goal: at most 1x)\n", gz / p }'
[ -n "${DUCK:-}" ] && awk -v d="$DUCK" -v two="$TWO" 'BEGIN { printf "vs duckdb: %.1fx faster\n", d / two }'
[ -n "${DUCKCOPY:-}" ] && awk -v d="$DUCKCOPY" -v e="$EXPORT" -v a="$EXPORT_MB" -v b="$DUCK_MB" \
  'BEGIN { printf "export vs duckdb COPY: %.2fx the throughput (goal: 5x); output %d MB vs %d MB\n", d / e, a, b }'

if [ -n "$BIG" ]; then
  BIGLOG=$DIR/combined-$BIG.log
  [ -f "$BIGLOG" ] || "$BENCH" --write "$BIGLOG" --mb "$BIG" --grammar nginx-combined
  read -r t m < <(measure "$LS" report "$BIGLOG")
  row "logspike report, $BIG MB log" "$(( $(stat -c %s "$BIGLOG") / 1000000 ))" "$t" "$m"
  awk -v a="$TWO_RSS" -v b="$m" 'BEGIN { printf "peak memory %d MB vs %d MB: %+.0f%% (goal: within 10%%)\n", a/1024, b/1024, (b - a) * 100 / a }'
fi
