-- tests/chaos/collect.lua - the end state of a chaos run as one JSON document,
-- read in one atomic step so that nothing moves while it is read:
--
--   redis-cli --eval tests/chaos/collect.lua , '{prefix}' ID...
--
-- {"jobs": [{id, status, error, attempts, finished_at, audio_url, result,
--            done: [messages]}],
--  "inflight": [{key, len}], "queue": N, "high": N, "scheduled": N,
--  "dead": [entries]}
--
-- A missing hash field is absent from its job; an empty list may come out
-- as {} (cjson cannot tell an empty array from an empty object).
local p = ARGV[1]
local jobs = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = redis.call('HMGET', p .. ':job:' .. id, 'status', 'error', 'attempts', 'finished_at',
    'audio_url', 'result')
  jobs[#jobs + 1] = {
    id = id,
    status = h[1] or nil,
    error = h[2] or nil,
    attempts = tonumber(h[3] or nil),
    finished_at = tonumber(h[4] or nil),
    audio_url = h[5] or nil,
    result = h[6] or nil,
    done = redis.call('LRANGE', p .. ':done:' .. id, 0, -1),
  }
end
local inflight = {}
for _, key in ipairs(redis.call('KEYS', p .. ':inflight:*')) do
  inflight[#inflight + 1] = {key = key, len = redis.call('LLEN', key)}
end
return cjson.encode({
  jobs = jobs,
  inflight = inflight,
  queue = redis.call('LLEN', p .. ':queue'),
  high = redis.call('LLEN', p .. ':queue:high'),
  scheduled = redis.call('ZCARD', p .. ':scheduled'),
  dead = redis.call('LRANGE', p .. ':dead', 0, -1),
})
