"""What the object storage tests ask of a local S3 server (moto), through
boto3, the AWS SDK for Python:

  s3.py mkbucket ENDPOINT BUCKET
  s3.py read ENDPOINT BUCKET PREFIX   objects under PREFIX, read back with
                                      DuckDB, as one JSON line
  s3.py proxy PORT TARGET_PORT        forwards to TARGET_PORT, answering 500
                                      to every upload of a second part

Credentials are the environment's (the tests set dummy ones)."""
import json
import os
import sys
import tempfile


def client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def read(endpoint, bucket, prefix):
    import duckdb
    s3 = client(endpoint)
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    out = {"keys": sorted(k for k, _ in keys), "pending_uploads": len(pending),
           "largest": max([s for _, s in keys], default=0)}
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for key, _ in keys:
            relative = key[len(prefix):].lstrip("/")
            path = os.path.join(tmp, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            s3.download_file(bucket, key, path)
            if path.endswith(".parquet") and relative.split("/")[0] not in ("requests", "attempts"):
                rows.append(path)
        con = duckdb.connect()
        if rows:
            src = f"read_parquet({rows!r}, hive_partitioning = true, union_by_name = true)"
            out["rows"] = con.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
            out["status"] = {str(s): n for s, n in con.execute(
                f"SELECT status, count(*) FROM {src} WHERE status IS NOT NULL GROUP BY 1").fetchall()}
            out["types"] = {c: t for c, t in con.execute(
                f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {src})").fetchall()}
            out["dates"] = sorted(str(d) for (d,) in con.execute(f"SELECT DISTINCT date FROM {src}").fetchall())
            out["bytes"] = con.execute(f"SELECT sum(bytes) FROM {src}").fetchone()[0]
        attempts = os.path.join(tmp, "attempts", "**", "*.parquet")
        if any("/attempts/" in k for k in out["keys"]):
            src = f"read_parquet('{attempts}', hive_partitioning = true)"
            out["errors_by_upstream"] = {u: int(n) for u, n in con.execute(
                f"SELECT upstream, sum(attempts) FROM {src} WHERE upstream_status BETWEEN 500 AND 599 GROUP BY 1").fetchall()}
            requests = os.path.join(tmp, "requests", "**", "*.parquet")
            out["rollup_requests"] = int(con.execute(
                f"SELECT sum(requests) FROM read_parquet('{requests}', hive_partitioning = true)").fetchone()[0])
    print(json.dumps(out))


def proxy(port, target):
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.command == "PUT" and "partNumber=2&" in self.path + "&":
                reply = b"<Error><Code>InternalError</Code><Message>test</Message></Error>"
                self.send_response(500)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                return
            conn = http.client.HTTPConnection("127.0.0.1", target)
            conn.request(self.command, self.path, body=body, headers=dict(self.headers))
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for k, v in resp.getheaders():
                if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "mkbucket":
        client(sys.argv[2]).create_bucket(Bucket=sys.argv[3])
    elif cmd == "read":
        read(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "proxy":
        proxy(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {cmd}")
