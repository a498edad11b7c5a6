"""Reads a `logspike export` directory with Spark (local mode) and prints,
as JSON, what the Rust test compares: the timestamp type, the partition
column, the row count and the 5xx attempts per upstream; with a second
directory (`export --rollup`), the same sums from its two tables, in
Spark SQL as docs/parquet.md gives them."""
import sys, json
from pyspark.sql import SparkSession, functions as F
from pyspark.sql.types import TimestampType
spark = (SparkSession.builder.master("local[2]").appName("logspike-test")
         .config("spark.ui.enabled", "false").config("spark.sql.session.timeZone", "UTC")
         .config("spark.driver.bindAddress", "127.0.0.1").getOrCreate())
spark.sparkContext.setLogLevel("ERROR")
df = spark.read.option("mergeSchema", "true").parquet(sys.argv[1])
fields = {f.name: f.dataType for f in df.schema.fields}
attempts = (df.select(F.explode(F.arrays_zip("upstream_addrs", "upstream_statuses")).alias("a"))
            .where(F.col("a.upstream_statuses").between(500, 599))
            .groupBy(F.col("a.upstream_addrs").alias("u")).count().collect())
out = {
    "timestamp_is_timestamp": isinstance(fields["timestamp"], TimestampType),
    "has_date": "date" in fields,
    "rows": df.count(),
    "errors_by_upstream": {r["u"]: r["count"] for r in attempts},
    # Line numbers are delta-encoded: every one decoded, per file.
    "source_lines": {r["source_file"]: [r["n"], int(r["last"]), int(r["total"])] for r in
                     df.groupBy("source_file").agg(F.count("*").alias("n"), F.max("source_line").alias("last"),
                                                   F.sum("source_line").alias("total")).collect()},
}
if len(sys.argv) > 2:
    spark.read.parquet(sys.argv[2] + "/attempts").createOrReplaceTempView("attempts")
    spark.read.parquet(sys.argv[2] + "/requests").createOrReplaceTempView("requests")
    rows = spark.sql("""
        SELECT upstream, sum(attempts) AS errors FROM attempts
        WHERE upstream_status BETWEEN 500 AND 599 GROUP BY upstream""").collect()
    out["rollup_errors_by_upstream"] = {r["upstream"]: int(r["errors"]) for r in rows}
    out["rollup_requests"] = int(spark.sql("SELECT sum(requests) AS n FROM requests").collect()[0]["n"])
    out["rollup_has_date"] = "date" in spark.table("requests").columns
    # Spark sums unsigned 64-bit columns as decimals.
    out["rollup_errors_5xx"] = int(spark.sql(
        "SELECT sum(requests) AS n FROM requests WHERE status BETWEEN 500 AND 599").collect()[0]["n"])
print(json.dumps(out))
spark.stop()
