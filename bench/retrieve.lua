-- wrk script of bench/deployment.py, phase (f): GET /v1/pretrained-models/{pk}
-- with a Bearer token, walking the pks listed one per line in $PKS_FILE;
-- prints one JSON line of figures when the run ends.
local token = os.getenv("TOKEN")
local pks = {}
for line in io.lines(os.getenv("PKS_FILE")) do
  pks[#pks + 1] = line
end
local counter = 0

setup = function(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
end

request = function()
  offset = offset + 1
  local pk = pks[(offset % #pks) + 1]
  return wrk.format("GET", "/v1/pretrained-models/" .. pk, {["Authorization"] = "Bearer " .. token})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency.max, e.status, e.connect + e.read + e.write + e.timeout))
end
