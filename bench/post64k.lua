-- wrk script for the echo workload: POST a 64 KiB body, which the server
-- sends back.  The URL given to wrk carries the path (/echo).
wrk.method = "POST"
wrk.body = string.rep("x", 64 * 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
