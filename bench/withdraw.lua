-- wrk script of bench/side_by_side.sh: synchronous withdrawals of 0.01, each from an account
-- picked at random among the first ACCOUNTS numbers of ACCOUNTS_FILE (one number a line).
-- Ends with one RESULT line: requests/s, p50 and p99 latency, answers that were not 2xx
-- (a 202 counts as 2xx) and socket errors (connect, read, write, timeout).
local file = assert(os.getenv("ACCOUNTS_FILE"), "ACCOUNTS_FILE must name the accounts file")
local wanted = tonumber(os.getenv("ACCOUNTS") or "1000")
local paths = {}
for number in io.lines(file) do
  if #paths >= wanted then break end
  paths[#paths + 1] = "/accounts/" .. number .. "/withdraw"
end
assert(#paths > 0, "no account numbers in " .. file)

wrk.method = "POST"
wrk.body = '{"amount": 0.01}'
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
  thread:set("index", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() + 7919 * index) -- each thread its own sequence of accounts
  non2xx = 0
end

function request()
  return wrk.format(nil, paths[math.random(#paths)])
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local refused = 0
  for _, thread in ipairs(threads) do
    refused = refused + thread:get("non2xx")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT req/s=%.0f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    refused,
    e.connect + e.read + e.write + e.timeout
  ))
end
