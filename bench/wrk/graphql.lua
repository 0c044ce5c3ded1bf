-- POSTs one GraphQL request (env BODY, optional env AUTH as the whole
-- Authorization header) and counts responses that are not GraphQL successes:
-- HTTP 200 alone is not enough, the body must have "data" and no "errors".
-- Without BODY it GETs the URL (a static asset, /verify) and counts answers
-- that are not 200. With EXPECT_FAILURE=1 (the flood), nothing is checked.
local payload = os.getenv("BODY")
local graphql = payload ~= nil and payload ~= ""
if graphql then
  wrk.method = "POST"
  wrk.body = payload
  wrk.headers["Content-Type"] = "application/json"
else
  wrk.method = "GET"
end
local auth = os.getenv("AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
local check = os.getenv("EXPECT_FAILURE") ~= "1"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  sample = nil
end

function response(status, headers, body)
  local success = status == 200
    and (not graphql or (body:find('"data"', 1, true) and not body:find('"errors"', 1, true)))
  if check and not success then
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
