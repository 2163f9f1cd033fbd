/**
 * The body of an item state transition, shared by the scripts below: moves the item, its batch
 * counters and the batch status together. KEYS 1-3: items, counts, meta. ARGV 1-5: finding_id,
 * new_state, patch_json, allowed_from (comma list), now_iso. Returns {applied(0|1), previous_state,
 * batch_status}.
 */
const TRANSITION_FN = `
local function transition()
  local raw = redis.call('HGET', KEYS[1], ARGV[1])
  if not raw then return {0, 'missing', redis.call('HGET', KEYS[3], 'status') or ''} end
  local item = cjson.decode(raw)
  local from = item.state
  local allowed = false
  for s in string.gmatch(ARGV[4], '[^,]+') do if s == from then allowed = true end end
  if not allowed then return {0, from, redis.call('HGET', KEYS[3], 'status') or ''} end
  local patch = cjson.decode(ARGV[3])
  for k, v in pairs(patch) do item[k] = v end
  item.state = ARGV[2]
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(item))
  if from ~= ARGV[2] then
    redis.call('HINCRBY', KEYS[2], from, -1)
    redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  end
  local status = redis.call('HGET', KEYS[3], 'status') or ''
  local c = redis.call('HMGET', KEYS[2], 'queued', 'running', 'failed', 'timed_out')
  local open = (tonumber(c[1]) or 0) + (tonumber(c[2]) or 0)
  if open == 0 and (status == 'running') then
    local bad = (tonumber(c[3]) or 0) + (tonumber(c[4]) or 0)
    if bad > 0 then status = 'completed_with_failures' else status = 'completed' end
    redis.call('HSET', KEYS[3], 'status', status, 'finished_at', ARGV[5])
  elseif open == 0 and status == 'stopped' and not redis.call('HGET', KEYS[3], 'finished_at') then
    redis.call('HSET', KEYS[3], 'finished_at', ARGV[5])
  end
  return {1, from, status}
end
`;

/** An item state transition (TRANSITION_FN). */
export const TRANSITION_LUA = `${TRANSITION_FN}
return transition()
`;

/**
 * An item's last transition, to a final state, and its report outcome in the same step: the outcome
 * is recorded exactly when the transition applies. KEYS 4-5: outcomes, finding. ARGV 6-8: outcome
 * score (finished, ms), outcome json, drop outcomes scored below. Returns the transition's three
 * values and, when applied, the finding's stored JSON (for its status; nil when it is gone).
 */
export const FINISH_LUA = `${TRANSITION_FN}
local r = transition()
if r[1] == 1 then
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[7])
  redis.call('ZREMRANGEBYSCORE', KEYS[4], 0, ARGV[8])
  r[4] = redis.call('GET', KEYS[5])
end
return r
`;

/**
 * Stop a batch: status `stopped` with a reason, every queued item cancelled.
 * KEYS: items, counts, meta. ARGV: reason, now_iso, figures_json. Returns the cancelled finding ids.
 */
export const STOP_BATCH_LUA = `
local status = redis.call('HGET', KEYS[3], 'status')
if status ~= 'running' then return {} end
redis.call('HSET', KEYS[3], 'status', 'stopped', 'stop_reason', ARGV[1], 'stopped_at', ARGV[2], 'stop_figures', ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
local cancelled = {}
for i = 1, #all, 2 do
  local item = cjson.decode(all[i + 1])
  if item.state == 'queued' then
    item.state = 'cancelled'
    item.error = 'batch_stopped'
    item.finished_at = ARGV[2]
    redis.call('HSET', KEYS[1], all[i], cjson.encode(item))
    redis.call('HINCRBY', KEYS[2], 'queued', -1)
    redis.call('HINCRBY', KEYS[2], 'cancelled', 1)
    table.insert(cancelled, all[i])
  end
end
local c = redis.call('HMGET', KEYS[2], 'queued', 'running')
if (tonumber(c[1]) or 0) + (tonumber(c[2]) or 0) == 0 then redis.call('HSET', KEYS[3], 'finished_at', ARGV[2]) end
return cancelled
`;

/**
 * The snapshot id of an item: allocated once, the same on every retry of the item.
 * KEYS: snaps, snapseq. ARGV: finding_id. Returns the sequence number.
 */
export const SNAPSHOT_ID_LUA = `
local n = redis.call('HGET', KEYS[1], ARGV[1])
if n then return tonumber(n) end
n = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], ARGV[1], n)
return n
`;
