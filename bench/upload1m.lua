-- wrk script for the upload workload of the realistic apps: POST a 1 MiB
-- body to /upload, which answers its length.
wrk.method = "POST"
wrk.body = string.rep("x", 1024 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
