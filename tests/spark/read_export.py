"""Reads a `logspike export` directory with Spark (local mode) and prints,
as JSON, what the Rust test compares: the timestamp type, the partition
column, the row count and the 5xx attempts per upstream."""
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
print(json.dumps({
    "timestamp_is_timestamp": isinstance(fields["timestamp"], TimestampType),
    "has_date": "date" in fields,
    "rows": df.count(),
    "errors_by_upstream": {r["u"]: r["count"] for r in attempts},
}))
spark.stop()
