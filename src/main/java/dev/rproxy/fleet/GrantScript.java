package dev.rproxy.fleet;

/**
 * The authoritative bucket of one (limit, key) in Redis, and the script that hands out its tokens
 * in batches.
 *
 * <p>The bucket is the generic cell rate algorithm's one number, the theoretical arrival time
 * (TAT), kept in microseconds on Redis' clock (so the proxies' clocks need not agree): a token
 * moves it one interval ({@code 1 / rate}) later, and no token is handed out that would put it more
 * than {@code burst} intervals ahead of now. The script first takes the {@code force} tokens a
 * proxy has spent already on its own account (a new key's first requests, see the edge's global
 * rate), which may put the TAT beyond that bound, then grants up to {@code want} more of what is
 * there. Whatever the callers do, then, Redis never hands out more than {@code burst + rate x
 * span} tokens over any span, forced ones included: what was forced beyond the bound delays the
 * next grants by as much.
 *
 * <p>Reply: {@code {granted, waitMicros}}, the second the time until a token is there again (0 when
 * some were granted or are left). The key expires once the bucket would be full again, so idle keys
 * cost Redis nothing. Runs atomically (a script), one round trip, O(1).
 */
final class GrantScript {
    /** KEYS[1]: the bucket; ARGV: interval (µs), burst, force, want. */
    static final RedisLink.Script SCRIPT = RedisLink.Script.of("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
            local interval = tonumber(ARGV[1])
            local tolerance = interval * tonumber(ARGV[2])
            local force = tonumber(ARGV[3])
            local want = tonumber(ARGV[4])
            local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
            if tat < now then tat = now end
            tat = tat + force * interval
            local free = math.floor((now + tolerance - tat) / interval)
            local granted = math.max(0, math.min(want, free))
            tat = tat + granted * interval
            redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
            local wait = math.max(0, tat + interval - tolerance - now)
            return {granted, math.ceil(wait)}
            """);

    private GrantScript() {
    }
}
