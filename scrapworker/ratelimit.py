"""A weighted token bucket per rate-limit group, shared by every worker process through Redis.

No request leaves without budget: `reserve` takes the request's weight atomically or says how long to
wait. The bucket holds at most `burst` and refills at (limit - burst) / window, so no fixed window of
the API (Binance counts calendar minutes) can see more than its limit however requests fall.

The API's own count (X-MBX-USED-WEIGHT-1M) re-syncs the bucket downwards when others (another process
on the same IP, requests before a restart) spent weight we did not see. A 429 or 418 pauses the whole
group until its Retry-After.

Every time in the bucket is Redis's clock (TIME inside the scripts), so worker hosts whose clocks disagree
share one budget correctly; a host's clock only measures durations (how long ago a request was sent).
"""

from __future__ import annotations

import time
from typing import cast

import redis

from scrapworker.endpoints import RateLimitGroup
from scrapworker.redis_clock import NOW_MS

# KEYS: bucket, pause. ARGV: burst, refill per ms, weight. Returns ms to wait (0: granted).
_RESERVE = (
    NOW_MS
    + """
local burst, rate, weight = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > now_ms then return paused - now_ms end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or burst, tonumber(state[2]) or now_ms
tokens = math.min(burst, tokens + math.max(0, now_ms - ts) * rate)
local wait = 0
if tokens >= weight then tokens = tokens - weight else wait = math.ceil((weight - tokens) / rate) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now_ms)
redis.call('PEXPIRE', KEYS[1], 3600000)
return wait
"""
)

# KEYS: bucket. ARGV: ms since the request was sent, burst, refill per ms, limit, used, window ms.
# Lowers the tokens to what the API's count allows, never raises them.
_SYNC = (
    NOW_MS
    + """
local age, burst, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local limit, used, window = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local sent = now_ms - age
local ceiling = math.floor(limit - used - rate * (window - (sent % window)))
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(state[1]) or burst, tonumber(state[2]) or sent
-- `sent` is often before the bucket's last update: never move its clock back.
if sent > ts then
  tokens = math.min(burst, tokens + (sent - ts) * rate)
  ts = sent
end
if ceiling < tokens then tokens = ceiling end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', ts)
redis.call('PEXPIRE', KEYS[1], 3600000)
return tostring(tokens)
"""
)

# KEYS: pause. ARGV: pause ms. Only ever extends a pause; the key expires when the pause ends.
_PAUSE = (
    NOW_MS
    + """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local till = now_ms + tonumber(ARGV[1])
if till > current then redis.call('SET', KEYS[1], till, 'PX', ARGV[1]) end
return 1
"""
)


class RateLimiter:
    def __init__(self, client: redis.Redis, prefix: str, name: str, group: RateLimitGroup) -> None:
        self.redis = client
        self.group = group
        self.name = name
        self._bucket = f"{prefix}:ratelimit:{name}"
        self._pause_key = f"{prefix}:ratelimit:{name}:paused-until"
        self._reserve = client.register_script(_RESERVE)
        self._sync = client.register_script(_SYNC)
        self._pause = client.register_script(_PAUSE)

    @property
    def _rate_per_ms(self) -> float:
        return self.group.refill_per_second / 1000

    def reserve(self, weight: int) -> float:
        """Take `weight` from the budget; returns 0.0 when granted, else the seconds to wait before asking again."""
        wait_ms = self._reserve(
            keys=[self._bucket, self._pause_key], args=[self.group.burst, self._rate_per_ms, weight]
        )
        return cast(int, wait_ms) / 1000

    def sync_used_weight(self, used: int, sent_at: float) -> float:
        """Re-sync from the API's count of weight used in its window; returns the tokens left.

        With u used, the rest of that window may spend limit - u, and the refill until it ends is
        already promised: so the bucket may hold at most limit - u - refill(time left). The window is
        the one the request was *sent* in: the API counted it on arrival, and a reply that comes back
        after a window boundary still speaks of the old window (using the reply's time here would put
        the bucket a whole window into debt).
        """
        group = self.group
        age_ms = int((time.time() - sent_at) * 1000)  # a duration: any host's clock measures it
        tokens = self._sync(
            keys=[self._bucket],
            args=[
                age_ms,
                group.burst,
                self._rate_per_ms,
                group.weight_per_window,
                used,
                int(group.window_seconds * 1000),
            ],
        )
        return float(cast(str, tokens))

    def pause(self, seconds: float) -> None:
        """Stop every worker's requests in this group for `seconds` (a 429 or 418 Retry-After)."""
        self._pause(keys=[self._pause_key], args=[max(1, int(seconds * 1000))])

    def paused_for(self) -> float:
        remaining_ms: int = self.redis.pttl(self._pause_key)
        return max(0.0, remaining_ms / 1000)
