-- wrk script for every benchmark scenario (`cargo xtask bench`, xtask/src/bench/). The scenario
-- comes from BENCH_SCENARIO; tokens from BENCH_TOKENS (lines "<token> <user number>"); the API
-- key from BENCH_API_KEY; seeded-data sizes from BENCH_USERS and BENCH_SUBS. The summary is
-- appended as one JSON line to BENCH_OUT; xtask reads it as `WrkSummary`
-- (xtask/src/bench/report.rs), so a field renamed here fails the run instead of emptying a column.

local scenario = os.getenv("BENCH_SCENARIO")
local users = tonumber(os.getenv("BENCH_USERS") or "100000")
local subs = tonumber(os.getenv("BENCH_SUBS") or "100")
local words = { "river", "coffee", "rust", "garden", "music", "cinema", "history", "ocean",
  "release", "cluster", "latency", "network" }

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local tokens = {}

function init(args)
  math.randomseed(os.time() * 1000 + id)
  local file = os.getenv("BENCH_TOKENS")
  if file then
    for line in io.lines(file) do
      local token, n = line:match("^(%S+) (%d+)$")
      if token then
        table.insert(tokens, { token = token, n = tonumber(n) })
      end
    end
  end
end

local function hex(digits)
  local out = {}
  for i = 1, digits do
    out[i] = string.format("%x", math.random(0, 15))
  end
  return table.concat(out)
end

local function uuid()
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-a" .. hex(3) .. "-" .. hex(12)
end

local function event()
  return string.format(
    '{"id":"%s","session_id":"%s","category":"page interaction","name":"pageview",'
      .. '"data":{"host":"bench.example","path":"/p/%d"},"timestamp":"%s"}',
    uuid(), uuid(), math.random(1, 1000), os.date("!%Y-%m-%d %H:%M:%S"))
end

local function user()
  return tokens[math.random(1, #tokens)]
end

local function get(path, who)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. who.token })
end

local function post(path, headers, body)
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", path, headers, body)
end

local function word()
  return words[math.random(1, #words)]
end

-- The username of one of user n's subscriptions (seeded as n + 997·k mod N).
local function followed(n)
  local k = math.random(1, subs)
  return "user" .. ((n - 1 + 997 * k) % users + 1)
end

local scenarios = {
  events_single = function()
    return post("/v1/events", { ["X-Api-Key"] = os.getenv("BENCH_API_KEY") }, event())
  end,
  events_batch = function()
    local batch = {}
    for i = 1, 100 do
      batch[i] = event()
    end
    return post("/v1/events", { ["X-Api-Key"] = os.getenv("BENCH_API_KEY") },
      "[" .. table.concat(batch, ",") .. "]")
  end,
  posts_create = function()
    local who = user()
    return post("/v1/posts", { ["Authorization"] = "Bearer " .. who.token },
      string.format('{"title":"Bench %s","text":"benchmark post about %s","visibility":"public"}',
        word(), word()))
  end,
  me_posts_search = function()
    return get("/v1/me/posts?title=" .. word(), user())
  end,
  subscriptions_posts = function()
    local who = user()
    local names = followed(who.n) .. "," .. followed(who.n) .. "," .. followed(who.n)
    return get("/v1/subscriptions/posts?usernames=" .. names .. "&text=" .. word(), who)
  end,
  feed = function()
    return get("/v1/feed", user())
  end,
  users_page = function()
    return get("/v1/users?limit=20", user())
  end,
  login = function()
    return post("/v1/auth/login", {},
      string.format('{"username":"user%d","password":"%s"}', math.random(1, users),
        os.getenv("BENCH_PASSWORD")))
  end,
}

local make = scenarios[scenario]
if make == nil then
  error("unknown BENCH_SCENARIO " .. tostring(scenario))
end

request = function()
  return make()
end

function done(summary, latency, requests)
  local errors = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "a")
  out:write(string.format(
    '{"scenario":"%s","requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,'
      .. '"max_ms":%.3f,"non_2xx":%d,"socket_errors":%d}\n',
    scenario, summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1e3, latency:percentile(90) / 1e3, latency:percentile(99) / 1e3,
    latency.max / 1e3, errors.status, errors.connect + errors.read + errors.write + errors.timeout))
  out:close()
end
