/* queue_scripts.c - the Lua side of the Redis contract (docs/protocol.md).
 *
 * Each script declares the keys the C side can name in KEYS; keys that only
 * the data names (a job hash found through a payload's id, a dead worker's
 * in-flight list) are built from the prefix in ARGV. They all carry the same
 * {hash tag}, so on a cluster they live in the slot of the declared keys.
 * Times are the server's (TIME), in milliseconds. */
#include "queue_scripts.h"

#include <stddef.h>

#include "protocol.h"

/* Helpers that most scripts share. The job-id rule (valid_id) and the error
 * codes (ERR_*) are protocol.h's, pasted in. */
#define PRELUDE \
    PROTOCOL_ID_LUA \
    PROTOCOL_ERRORS_LUA \
    "local FINAL = {succeeded = true, failed = true, cancelled = true}\n" \
    "local function now_ms()\n" \
    "  local t = redis.call('TIME')\n" \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n" \
    "end\n" \
    /* Integers as digits: tostring() would write 1.7e+12. */ \
    "local function int(n) return string.format('%d', n) end\n" \
    /* A payload's id (nil unless it is a JSON object with a valid one) and
     * whether it asks for the high-priority queue. */ \
    "local function payload_info(payload)\n" \
    "  local ok, job = pcall(cjson.decode, payload)\n" \
    "  if not ok or type(job) ~= 'table' then return nil, false end\n" \
    "  local id = job.id\n" \
    "  if not valid_id(id) then id = nil end\n" \
    "  return id, type(job.priority) == 'number' and job.priority > 0\n" \
    "end\n" \
    /* Back into its queue: at the consumer end (taken next), or behind
     * everything waiting. Returns the payload's id. */ \
    "local function requeue(queue, high, payload, behind)\n" \
    "  local id, is_high = payload_info(payload)\n" \
    "  redis.call(behind and 'LPUSH' or 'RPUSH', is_high and high or queue, payload)\n" \
    "  return id\n" \
    "end\n" \
    /* A job taken back from `worker` is queued again - unless it ended, or
     * another worker runs it now. */ \
    "local function mark_requeued(prefix, id, worker, now)\n" \
    "  local job = prefix .. ':job:' .. id\n" \
    "  local st, w = unpack(redis.call('HMGET', job, 'status', 'worker'))\n" \
    "  if st == 'running' and w == worker then\n" \
    "    redis.call('HSET', job, 'status', 'queued', 'stage', 'queued', 'updated_at', int(now))\n" \
    "  end\n" \
    "end\n" \
    /* The end of a job: its final status and `fields`, the expiry, then the
     * announcement - the done list and the event. `extra`: more JSON members. */ \
    "local function end_job(job, done, events, id, status, fields, extra, ttl, now)\n" \
    "  redis.call('HSET', job, 'status', status, 'finished_at', int(now), 'updated_at', int(now), unpack(fields))\n" \
    "  redis.call('EXPIRE', job, ttl)\n" \
    "  local msg = '{\"id\":' .. cjson.encode(id) .. ',\"status\":\"' .. status .. '\"' .. extra .. '}'\n" \
    "  redis.call('LPUSH', done, msg)\n" \
    "  redis.call('EXPIRE', done, ttl)\n" \
    "  redis.call('PUBLISH', events, msg)\n" \
    "end\n" \
    "local function dead_entry(id, payload, code, message, attempts, now)\n" \
    "  return '{\"id\":' .. (id and cjson.encode(id) or 'null') .. ',\"payload\":' .. cjson.encode(payload)\n" \
    "    .. ',\"error\":' .. cjson.encode(code) .. ',\"error_message\":' .. cjson.encode(message)\n" \
    "    .. ',\"attempts\":' .. int(attempts) .. ',\"at\":' .. int(now) .. '}'\n" \
    "end\n" \
    /* The dead list is bounded (docs/protocol.md's Failure): by age, from
     * its oldest end (the right), a bounded number per call so that no call
     * runs long; an entry that is not ours to read stops the trim. */ \
    "local function trim_dead_age(dead, now, max_age_ms)\n" \
    "  for _ = 1, 100 do\n" \
    "    local last = redis.call('LINDEX', dead, -1)\n" \
    "    if not last then return end\n" \
    "    local ok, e = pcall(cjson.decode, last)\n" \
    "    local at = ok and type(e) == 'table' and tonumber(e.at)\n" \
    "    if not at or now - at <= max_age_ms then return end\n" \
    "    redis.call('RPOP', dead)\n" \
    "  end\n" \
    "end\n" \
    /* and by count: `bounds` is {max entries, max age ms}. */ \
    "local function push_dead(dead, entry, now, bounds)\n" \
    "  redis.call('LPUSH', dead, entry)\n" \
    "  redis.call('LTRIM', dead, 0, bounds[1] - 1)\n" \
    "  trim_dead_age(dead, now, bounds[2])\n" \
    "end\n" \
    /* Whether attempt n of a job made progress: it wrote a checkpoint that
     * advanced the job's (the checkpoint script recorded it). */ \
    "local function progressed(progress_attempt, n)\n" \
    "  return n > 0 and progress_attempt == int(n)\n" \
    "end\n" \
    /* Starts the job of a payload that is in `inflight`. Returns {decision,
     * id, attempts, checkpoint frames}; decisions: 0 run, 1 not a job (no
     * valid id), 2 it had ended (dropped), 3 it was cancelled (ended now,
     * dropped). The attempt before this one is judged here: one that wrote
     * no new checkpoint counts in stalled_attempts. A job with max_attempts
     * such attempts (its workers died or were stopped mid-job without
     * progress) fails here instead of killing worker after worker: decision
     * 2, error too_many_attempts, and a dead entry. A job whose attempts
     * each advance its checkpoint is never stopped so: it comes closer to
     * its end every time. A payload whose id another job holds (its hash
     * keeps a different request: a redelivery is the same bytes) is that
     * producer's mistake or a squatter's: decision 5, dead-lettered as
     * duplicate_id, the other job untouched. `bounds`: push_dead's. */ \
    "local function start_job(prefix, inflight, payload, worker, ttl, max_attempts, bounds)\n" \
    "  local id = payload_info(payload)\n" \
    "  if not id then return {1, '', 0, 0} end\n" \
    "  local job = prefix .. ':job:' .. id\n" \
    "  local st, cancel, attempts, created, retry_at, stalled, progress_attempt, frames, request = unpack(\n" \
    "    redis.call('HMGET', job, 'status', 'cancel', 'attempts', 'created_at', 'retry_at', 'stalled_attempts',\n" \
    "    'progress_attempt', 'checkpoint_frames', 'request'))\n" \
    "  if request and request ~= payload then\n" \
    "    local now = now_ms()\n" \
    "    push_dead(prefix .. ':dead', dead_entry(id, payload, ERR_DUPLICATE_ID, 'job id ' .. id\n" \
    "      .. ' belongs to another job (' .. (st or '?') .. '); this payload was not run: enqueue it under a new id',\n" \
    "      0, now), now, bounds)\n" \
    "    redis.call('LREM', inflight, 1, payload)\n" \
    "    return {5, id, 0, 0}\n" \
    "  end\n" \
    "  if st and FINAL[st] then\n" \
    "    redis.call('LREM', inflight, 1, payload)\n" \
    "    return {2, id, 0, 0}\n" \
    "  end\n" \
    "  local now = now_ms()\n" \
    "  if not created then redis.call('HSET', job, 'request', payload, 'created_at', int(now)) end\n" \
    "  if cancel == '1' then\n" \
    "    end_job(job, prefix .. ':done:' .. id, prefix .. ':events', id, 'cancelled', {}, '', ttl, now)\n" \
    "    redis.call('LREM', inflight, 1, payload)\n" \
    "    return {3, id, 0, 0}\n" \
    "  end\n" \
    "  attempts = tonumber(attempts) or 0\n" \
    "  stalled = tonumber(stalled) or 0\n" \
    "  if attempts > 0 and not progressed(progress_attempt, attempts) then stalled = stalled + 1 end\n" \
    "  if stalled >= max_attempts then\n" \
    "    local msg = 'started ' .. int(attempts) .. ' times, ' .. int(stalled) .. ' of them ending without progress'\n" \
    "      .. ' (no new checkpoint): its workers died or were stopped mid-job'\n" \
    "    end_job(job, prefix .. ':done:' .. id, prefix .. ':events', id, 'failed',\n" \
    "      {'error', ERR_TOO_MANY_ATTEMPTS, 'error_message', msg, 'stalled_attempts', int(stalled)},\n" \
    "      ',\"error\":\"' .. ERR_TOO_MANY_ATTEMPTS .. '\"', ttl, now)\n" \
    "    push_dead(prefix .. ':dead', dead_entry(id, payload, ERR_TOO_MANY_ATTEMPTS, msg, attempts, now), now, bounds)\n" \
    "    redis.call('LREM', inflight, 1, payload)\n" \
    "    return {2, id, attempts, 0}\n" \
    "  end\n" \
    "  attempts = attempts + 1\n" \
    "  redis.call('HSET', job, 'status', 'running', 'stage', 'planning', 'progress', '0', 'worker', worker,\n" \
    "    'started_at', int(now), 'updated_at', int(now), 'attempts', int(attempts), 'stalled_attempts', int(stalled))\n" \
    "  if retry_at then redis.call('HDEL', job, 'retry_at') end\n" \
    /* A queued job's hash expires (enqueue); a started one lasts until it ends. */ \
    "  redis.call('PERSIST', job)\n" \
    "  return {0, id, attempts, tonumber(frames) or 0}\n" \
    "end\n"

/* KEYS queue:high, queue, inflight; ARGV prefix, worker, ttl, max attempts,
 * dead max, dead max age ms.
 * Takes a payload and starts its job. Returns nil when both queues are
 * empty, else {payload, decision, id, attempts, checkpoint frames} (start_job's). */
static const char take_lua[] = PRELUDE
    "local p = redis.call('LMOVE', KEYS[1], KEYS[3], 'RIGHT', 'LEFT')\n"
    "if not p then p = redis.call('LMOVE', KEYS[2], KEYS[3], 'RIGHT', 'LEFT') end\n"
    "if not p then return false end\n"
    "local r = start_job(ARGV[1], KEYS[3], p, ARGV[2], ARGV[3], tonumber(ARGV[4]),\n"
    "  {tonumber(ARGV[5]), tonumber(ARGV[6])})\n"
    "return {p, r[1], r[2], r[3], r[4]}\n";

/* KEYS inflight; ARGV prefix, payload, worker, ttl, max attempts, dead max,
 * dead max age ms.
 * Starts the job of a payload a blocking take moved. Returns start_job's
 * {decision, id, attempts, checkpoint frames}, or {4, '', 0, 0} when the
 * payload is no longer in flight (reaped meanwhile: another worker will run it). */
static const char start_lua[] = PRELUDE
    "if not redis.call('LPOS', KEYS[1], ARGV[2]) then return {4, '', 0, 0} end\n"
    "return start_job(ARGV[1], KEYS[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]),\n"
    "  {tonumber(ARGV[6]), tonumber(ARGV[7])})\n";

/* KEYS job, enqueue list (main or high), queue, queue:high;
 * ARGV payload, id, max queued, queued ttl s.
 * Returns {0}, {1, the status of the job that has this id already},
 * {2, jobs waiting} when the queues are full, or {3} when the payload does
 * not read back (with cjson, as the take reads it) as a job with this id. */
static const char enqueue_lua[] = PRELUDE
    "if payload_info(ARGV[1]) ~= ARGV[2] then return {3} end\n"
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if st then return {1, st} end\n"
    "local waiting = redis.call('LLEN', KEYS[3]) + redis.call('LLEN', KEYS[4])\n"
    "if waiting >= tonumber(ARGV[3]) then return {2, waiting} end\n"
    "local now = int(now_ms())\n"
    "redis.call('HSET', KEYS[1], 'status', 'queued', 'stage', 'queued', 'progress', '0', 'attempts', '0',\n"
    "  'created_at', now, 'updated_at', now, 'request', ARGV[1])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[4])\n"
    "redis.call('LPUSH', KEYS[2], ARGV[1])\n"
    "return {0}\n";

/* KEYS job; ARGV progress, stage ('' keeps it).
 * Returns 1 when the worker should stop (cancel asked, or ended elsewhere). */
static const char progress_lua[] = PRELUDE
    "local st, cancel = unpack(redis.call('HMGET', KEYS[1], 'status', 'cancel'))\n"
    "if st and FINAL[st] then return 1 end\n"
    "if st == 'running' then\n"
    "  local now = int(now_ms())\n"
    "  if ARGV[2] ~= '' then\n"
    "    redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'stage', ARGV[2], 'updated_at', now)\n"
    "  else\n"
    "    redis.call('HSET', KEYS[1], 'progress', ARGV[1], 'updated_at', now)\n"
    "  end\n"
    "end\n"
    "if cancel == '1' then return 1 end\n"
    "return 0\n";

/* KEYS job; ARGV worker, attempt, frames.
 * A checkpoint of `frames` frames was written by this attempt: when it
 * advances the job's (checkpoint_frames), the attempt made progress
 * (progress_attempt), which the poison-pill count spares. Only the running
 * attempt of this worker counts. Returns 1 when the worker should stop, as
 * progress does. */
static const char checkpoint_lua[] = PRELUDE
    "local st, cancel, w, attempts, frames = unpack(redis.call('HMGET', KEYS[1], 'status', 'cancel', 'worker',\n"
    "  'attempts', 'checkpoint_frames'))\n"
    "if st and FINAL[st] then return 1 end\n"
    "if st == 'running' and w == ARGV[1] and attempts == ARGV[2]\n"
    "    and tonumber(ARGV[3]) > (tonumber(frames) or 0) then\n"
    "  redis.call('HSET', KEYS[1], 'checkpoint_frames', ARGV[3], 'progress_attempt', ARGV[2],\n"
    "    'updated_at', int(now_ms()))\n"
    "end\n"
    "if cancel == '1' then return 1 end\n"
    "return 0\n";

/* KEYS job, inflight, done, events; ARGV payload, id, result, audio_url ('' none), ttl.
 * Returns 1 when this call wrote the result, 0 when the job had ended. */
static const char finish_lua[] = PRELUDE
    "local written = 0\n"
    "local st, failed_before, retry_at = unpack(redis.call('HMGET', KEYS[1], 'status', 'error', 'retry_at'))\n"
    "if not (st and FINAL[st]) then\n"
    "  local now = now_ms()\n"
    "  if failed_before or retry_at then redis.call('HDEL', KEYS[1], 'error', 'error_message', 'retry_at') end\n"
    "  if st ~= 'running' then\n"
    "    redis.call('HSETNX', KEYS[1], 'request', ARGV[1])\n"
    "    redis.call('HSETNX', KEYS[1], 'created_at', int(now))\n"
    "  end\n"
    "  local fields = {'progress', '1', 'stage', 'done', 'result', ARGV[3]}\n"
    "  local extra = ''\n"
    "  if ARGV[4] ~= '' then\n"
    "    table.insert(fields, 'audio_url')\n"
    "    table.insert(fields, ARGV[4])\n"
    "    extra = ',\"audio_url\":' .. cjson.encode(ARGV[4])\n"
    "  end\n"
    "  end_job(KEYS[1], KEYS[3], KEYS[4], ARGV[2], 'succeeded', fields, extra, ARGV[5], now)\n"
    "  written = 1\n"
    "end\n"
    "redis.call('LREM', KEYS[2], 1, ARGV[1])\n"
    "return written\n";

/* KEYS job, inflight, done, events, scheduled, dead;
 * ARGV payload, id, code, message, transient (1/0), max attempts, retry base ms, ttl,
 * dead max, dead max age ms.
 * A transient failure is retried while fewer than max attempts ended
 * without progress (this one included). Returns {outcome, due ms}: 0 retry,
 * 1 failed, 2 failed and dead, 3 had ended. */
static const char fail_lua[] = PRELUDE
    "local st, attempts, stalled, progress_attempt = unpack(redis.call('HMGET', KEYS[1], 'status', 'attempts',\n"
    "  'stalled_attempts', 'progress_attempt'))\n"
    "attempts = tonumber(attempts) or 0\n"
    /* This attempt counts as the next take would count it. */
    "stalled = tonumber(stalled) or 0\n"
    "if not progressed(progress_attempt, attempts) then stalled = stalled + 1 end\n"
    "local outcome, due = 3, 0\n"
    "if not (st and FINAL[st]) then\n"
    "  local now = now_ms()\n"
    "  local id, code, message = ARGV[2], ARGV[3], ARGV[4]\n"
    "  redis.call('HSETNX', KEYS[1], 'request', ARGV[1])\n"
    "  redis.call('HSETNX', KEYS[1], 'created_at', int(now))\n"
    "  if ARGV[5] == '1' and stalled < tonumber(ARGV[6]) then\n"
    "    due = now + math.min(tonumber(ARGV[7]) * 2 ^ (math.max(attempts, 1) - 1), 60000)\n"
    "    redis.call('ZADD', KEYS[5], int(due), ARGV[1])\n"
    "    redis.call('HSET', KEYS[1], 'status', 'queued', 'stage', 'queued', 'error', code,\n"
    "      'error_message', message, 'retry_at', int(due), 'updated_at', int(now))\n"
    "    redis.call('PUBLISH', KEYS[4], '{\"id\":' .. cjson.encode(id) .. ',\"status\":\"queued\",\"error\":'\n"
    "      .. cjson.encode(code) .. ',\"attempts\":' .. int(attempts) .. ',\"retry_at\":' .. int(due) .. '}')\n"
    "    outcome = 0\n"
    "  else\n"
    "    redis.call('HDEL', KEYS[1], 'retry_at')\n"
    "    end_job(KEYS[1], KEYS[3], KEYS[4], id, 'failed', {'error', code, 'error_message', message},\n"
    "      ',\"error\":' .. cjson.encode(code), ARGV[8], now)\n"
    "    outcome = 1\n"
    "    if ARGV[5] == '1' then\n"
    "      push_dead(KEYS[6], dead_entry(id, ARGV[1], code, message, attempts, now), now,\n"
    "        {tonumber(ARGV[9]), tonumber(ARGV[10])})\n"
    "      outcome = 2\n"
    "    end\n"
    "  end\n"
    "end\n"
    "redis.call('LREM', KEYS[2], 1, ARGV[1])\n"
    "return {outcome, due}\n";

/* KEYS job, inflight, done, events; ARGV payload, id, ttl.
 * Returns 1 when it ended the job, 0 when it had ended. */
static const char cancelled_lua[] = PRELUDE
    "local written = 0\n"
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if not (st and FINAL[st]) then\n"
    "  redis.call('HSETNX', KEYS[1], 'request', ARGV[1])\n"
    "  end_job(KEYS[1], KEYS[3], KEYS[4], ARGV[2], 'cancelled', {'cancel', '1'}, '', ARGV[3], now_ms())\n"
    "  written = 1\n"
    "end\n"
    "redis.call('LREM', KEYS[2], 1, ARGV[1])\n"
    "return written\n";

/* KEYS dead, inflight [, job, done, events when the id is known];
 * ARGV payload, code, message, id ('' unknown), ttl, dead max, dead max age ms. */
static const char dead_payload_lua[] = PRELUDE
    "local now = now_ms()\n"
    "local id = ARGV[4] ~= '' and ARGV[4] or nil\n"
    "local attempts = 0\n"
    "if id then\n"
    "  local st, a = unpack(redis.call('HMGET', KEYS[3], 'status', 'attempts'))\n"
    "  attempts = tonumber(a) or 0\n"
    "  if not (st and FINAL[st]) then\n"
    "    redis.call('HSETNX', KEYS[3], 'request', ARGV[1])\n"
    "    redis.call('HSETNX', KEYS[3], 'created_at', int(now))\n"
    "    end_job(KEYS[3], KEYS[4], KEYS[5], id, 'failed', {'error', ARGV[2], 'error_message', ARGV[3]},\n"
    "      ',\"error\":' .. cjson.encode(ARGV[2]), ARGV[5], now)\n"
    "  end\n"
    "end\n"
    "push_dead(KEYS[1], dead_entry(id, ARGV[1], ARGV[2], ARGV[3], attempts, now), now,\n"
    "  {tonumber(ARGV[6]), tonumber(ARGV[7])})\n"
    "redis.call('LREM', KEYS[2], 1, ARGV[1])\n"
    "return 1\n";

/* KEYS job, done, events; ARGV id, ttl.
 * Returns {0 cancelled now | 1 cancel asked of a running job | 2 had ended,
 *          the status, 1 if the job existed}. */
static const char cancel_lua[] = PRELUDE
    "local st = redis.call('HGET', KEYS[1], 'status')\n"
    "if st and FINAL[st] then return {2, st, 1} end\n"
    "local now = now_ms()\n"
    "if st == 'running' then\n"
    "  redis.call('HSET', KEYS[1], 'cancel', '1', 'updated_at', int(now))\n"
    "  return {1, st, 1}\n"
    "end\n"
    "end_job(KEYS[1], KEYS[2], KEYS[3], ARGV[1], 'cancelled', {'cancel', '1'}, '', ARGV[2], now)\n"
    "return {0, 'cancelled', st and 1 or 0}\n";

/* KEYS inflight, queue, queue:high; ARGV prefix, worker, n, then n payloads to keep
 * (jobs still being worked on: each kept once per time it is named).
 * The in-flight list holds the newest payload on the left: pushing them from
 * left to right onto the consumer end leaves the oldest to be taken first.
 * Returns how many payloads went back. */
static const char release_lua[] = PRELUDE
    "local now = now_ms()\n"
    "local keep, n = {}, 0\n"
    "for i = 4, 3 + tonumber(ARGV[3]) do keep[ARGV[i]] = (keep[ARGV[i]] or 0) + 1 end\n"
    "local kept = {}\n"
    "for _, payload in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do\n"
    "  if (keep[payload] or 0) > 0 then\n"
    "    keep[payload] = keep[payload] - 1\n"
    "    kept[#kept + 1] = payload\n"
    "  else\n"
    "    local id = requeue(KEYS[2], KEYS[3], payload, false)\n"
    "    if id then mark_requeued(ARGV[1], id, ARGV[2], now) end\n"
    "    n = n + 1\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', KEYS[1])\n"
    "for _, payload in ipairs(kept) do redis.call('RPUSH', KEYS[1], payload) end\n"
    "return n\n";

/* KEYS workers, scheduled, queue, queue:high, dead; ARGV prefix, dead max age ms.
 * Also drops dead entries past their age, so that the bound holds while
 * nothing new dies. Returns {payloads reaped from dead workers, retries that came due}. */
static const char reap_lua[] = PRELUDE
    "local now = now_ms()\n"
    "local prefix = ARGV[1]\n"
    "local reaped, due_count = 0, 0\n"
    "for _, w in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  if redis.call('EXISTS', prefix .. ':worker:' .. w) == 0 then\n"
    "    local inflight = prefix .. ':inflight:' .. w\n"
    "    for _, payload in ipairs(redis.call('LRANGE', inflight, 0, -1)) do\n"
    "      local id = requeue(KEYS[3], KEYS[4], payload, false)\n"
    "      if id then mark_requeued(prefix, id, w, now) end\n"
    "      reaped = reaped + 1\n"
    "    end\n"
    "    redis.call('DEL', inflight)\n"
    "    redis.call('ZREM', KEYS[1], w)\n"
    "  end\n"
    "end\n"
    /* Latest first, so that the one due first ends up taken first. */
    "local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', int(now), 'LIMIT', 0, 1000)\n"
    "for i = #due, 1, -1 do\n"
    "  redis.call('ZREM', KEYS[2], due[i])\n"
    "  requeue(KEYS[3], KEYS[4], due[i], false)\n"
    "  due_count = due_count + 1\n"
    "end\n"
    "trim_dead_age(KEYS[5], now, tonumber(ARGV[2]))\n"
    "return {reaped, due_count}\n";

/* KEYS dead, queue, queue:high; ARGV prefix, id ('' every job).
 * Oldest entries first; a job dead twice goes back once. An entry whose id
 * another job holds now (its hash keeps a different request: duplicate_id)
 * stays. One pass: the entries that stay are written back in their order,
 * rather than each retried one LREM'd (a scan of the list each). Returns how
 * many jobs. */
static const char retry_dead_lua[] = PRELUDE
    "local now = now_ms()\n"
    "local prefix = ARGV[1]\n"
    "local entries = redis.call('LRANGE', KEYS[1], 0, -1)\n"
    "local moved, removed, seen, stay = 0, 0, {}, {}\n"
    "for i = #entries, 1, -1 do\n"
    "  local ok, e = pcall(cjson.decode, entries[i])\n"
    "  local retry = ok and type(e) == 'table' and valid_id(e.id) and type(e.payload) == 'string'\n"
    "      and (ARGV[2] == '' or e.id == ARGV[2])\n"
    "  local job = retry and prefix .. ':job:' .. e.id\n"
    "  if retry and not seen[e.id] then\n"
    "    local request = redis.call('HGET', job, 'request')\n"
    "    retry = not request or request == e.payload\n"
    "  end\n"
    "  if not retry then\n"
    "    stay[#stay + 1] = entries[i]\n"
    "  else\n"
    "    removed = removed + 1\n"
    "    if not seen[e.id] then\n"
    "      seen[e.id] = true\n"
    "      requeue(KEYS[2], KEYS[3], e.payload, true)\n"
    "      redis.call('HSET', job, 'status', 'queued', 'stage', 'queued', 'progress', '0', 'attempts', '0',\n"
    "        'updated_at', int(now))\n"
    /* Its checkpoint stays (checkpoint_frames): the retry resumes from it. */
    "      redis.call('HDEL', job, 'finished_at', 'retry_at', 'stalled_attempts', 'progress_attempt')\n"
    "      redis.call('PERSIST', job)\n"
    "      redis.call('DEL', prefix .. ':done:' .. e.id)\n"
    "      moved = moved + 1\n"
    "    end\n"
    "  end\n"
    "end\n"
    /* `stay` runs oldest first; the list keeps the newest on the left. */
    "if removed > 0 then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  for from = 1, #stay, 1000 do\n"
    "    redis.call('LPUSH', KEYS[1], unpack(stay, from, math.min(from + 999, #stay)))\n"
    "  end\n"
    "end\n"
    "return moved\n";

/* KEYS worker key, workers; ARGV worker, info, ttl ms. */
static const char heartbeat_lua[] = PRELUDE
    "redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])\n"
    "redis.call('ZADD', KEYS[2], int(now_ms()), ARGV[1])\n"
    "return 1\n";

/* KEYS queue, queue:high, scheduled, dead, workers; ARGV prefix.
 * Returns {queued, queued high, scheduled, dead, workers, alive, in flight}. */
static const char stats_lua[] =
    "local alive, inflight = 0, 0\n"
    "for _, w in ipairs(redis.call('ZRANGE', KEYS[5], 0, -1)) do\n"
    "  alive = alive + redis.call('EXISTS', ARGV[1] .. ':worker:' .. w)\n"
    "  inflight = inflight + redis.call('LLEN', ARGV[1] .. ':inflight:' .. w)\n"
    "end\n"
    "return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('ZCARD', KEYS[3]),\n"
    "  redis.call('LLEN', KEYS[4]), redis.call('ZCARD', KEYS[5]), alive, inflight}\n";

/* KEYS workers; ARGV prefix, limit. Returns {worker, payload, worker, payload, ...}. */
static const char list_running_lua[] =
    "local out, limit = {}, tonumber(ARGV[2])\n"
    "for _, w in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"
    "  for _, payload in ipairs(redis.call('LRANGE', ARGV[1] .. ':inflight:' .. w, 0, -1)) do\n"
    "    if #out >= 2 * limit then return out end\n"
    "    out[#out + 1] = w\n"
    "    out[#out + 1] = payload\n"
    "  end\n"
    "end\n"
    "return out\n";

static const struct {
    const char *name;
    const char *source;
} scripts[QS_COUNT] = {
    [QS_TAKE] = {"take", take_lua},
    [QS_ENQUEUE] = {"enqueue", enqueue_lua},
    [QS_START] = {"start", start_lua},
    [QS_PROGRESS] = {"progress", progress_lua},
    [QS_CHECKPOINT] = {"checkpoint", checkpoint_lua},
    [QS_FINISH] = {"finish", finish_lua},
    [QS_FAIL] = {"fail", fail_lua},
    [QS_CANCELLED] = {"cancelled", cancelled_lua},
    [QS_DEAD_PAYLOAD] = {"dead_payload", dead_payload_lua},
    [QS_CANCEL] = {"cancel", cancel_lua},
    [QS_RELEASE] = {"release", release_lua},
    [QS_REAP] = {"reap", reap_lua},
    [QS_RETRY_DEAD] = {"retry_dead", retry_dead_lua},
    [QS_HEARTBEAT] = {"heartbeat", heartbeat_lua},
    [QS_STATS] = {"stats", stats_lua},
    [QS_LIST_RUNNING] = {"list_running", list_running_lua},
};

const char *queue_script_source(queue_script s)
{
    return (unsigned)s < QS_COUNT ? scripts[s].source : NULL;
}

const char *queue_script_name(queue_script s)
{
    return (unsigned)s < QS_COUNT ? scripts[s].name : "?";
}
