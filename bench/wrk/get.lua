-- GETs the URL (optional env AUTH as the whole Authorization header) and
-- counts responses that are not 200: a static asset, or /verify answering
-- for a key that must pass.
wrk.method = "GET"
local auth = os.getenv("AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  sample = nil
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    sample = sample or (status .. " " .. body:sub(1, 200))
  end
end

function done(summary, latency, requests)
  local failures, example = 0, ""
  for _, thread in ipairs(threads) do
    failures = failures + thread:get("bad")
    example = thread:get("sample") or example
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"requests":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"not_success":%d,"errors":%d,"example":%q}\n',
    summary.requests, summary.requests / seconds, latency:percentile(50), latency:percentile(99),
    failures, summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout,
    example))
end
