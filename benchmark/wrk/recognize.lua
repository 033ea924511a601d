-- wrk script of the carcheck benchmark: POSTs the same multipart/form-data body the other
-- clients send (a 30 KB image in field "image"), prepared by benchmark/run.sh.
--
--   BENCH_BODY_FILE=body.bin BENCH_CONTENT_TYPE='multipart/form-data; boundary=...' \
--     wrk -t1 -c 8 -d 3s -s benchmark/wrk/recognize.lua 'https://127.0.0.1:PORT/v3/recognize?secret_key=k&country=us'
--
-- At the end it prints one JSON line with the same field names as the other programs
-- (latencies in milliseconds; wrk measures them itself, from the first byte written).

local path = os.getenv("BENCH_BODY_FILE")
local ctype = os.getenv("BENCH_CONTENT_TYPE")
if not path or not ctype then
  error("set BENCH_BODY_FILE and BENCH_CONTENT_TYPE")
end
local f = assert(io.open(path, "rb"))
local body = f:read("*a")
f:close()

wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = ctype

-- No response() callback: it would cost a Lua call per reply; non-2xx/3xx replies are
-- counted by wrk in summary.errors.status anyway.

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.status + e.timeout
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"tool":"wrk","mode":"multipart_prebuilt","requests":%d,"errors":%d,"seconds":%.6f,"rps":%.3f,' ..
    '"p50_ms":%.4f,"p99_ms":%.4f,"body_bytes":%d}\n',
    summary.requests - errors, errors, seconds, (summary.requests - errors) / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, #body))
end
