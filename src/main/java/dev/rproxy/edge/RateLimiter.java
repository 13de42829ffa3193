package dev.rproxy.edge;

import dev.rproxy.config.RateLimitConfig;
import dev.rproxy.fleet.Fleet;
import java.util.Iterator;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * One named limit ({@code rateLimits.NAME}): per key, a token bucket and a count of requests in
 * flight.
 *
 * <p>The bucket is kept as one number, the time at which it would be full again (the generic cell
 * rate algorithm's "theoretical arrival time"): a request moves it one interval ({@code 1 /
 * requestsPerSecond}) later, and is refused when that would put it more than {@code burst}
 * intervals ahead of now. Taking a token is one compare-and-set; there is no lock and no timer per
 * key, and the rate is exact: over any span a key gets at most {@code burst + rate x span}
 * requests.
 *
 * <p>Memory: a key is removed once its bucket is full again and nothing of it is in flight (it is
 * then the same as a new one), by {@link #sweep}, which runs every few seconds off the event loops.
 * At most {@code maxKeys} are kept; while that many are, requests of keys not yet known share one
 * bucket and one in-flight count (with the limit's rate and burst), so a flood of new keys (many
 * spoofed addresses, random API keys) is limited as a whole and memory stays bounded, at the price
 * that new clients arriving during such a flood share its bucket. {@link #overflowed} counts them.
 *
 * <p>A {@code global} limit's rate is the fleet's, shared through Redis: see {@link GlobalRate};
 * its keys' counters are {@link GlobalRate.Lease leases}.
 */
public final class RateLimiter {
    /** Times count from here, so a bucket that starts at 0 starts full. */
    private static final long ORIGIN = System.nanoTime() - TimeUnit.DAYS.toNanos(1);

    private final String name;
    private final RateLimitConfig config;
    /** Nanoseconds per token; 0 when the limit has no rate. */
    private final long interval;
    /** How far ahead of now a bucket may be: burst intervals. */
    private final long tolerance;
    private final ConcurrentHashMap<Object, Counter> keys = new ConcurrentHashMap<>();
    private final Counter shared;
    /** The fleet-wide rate of a {@code global} limit; {@code null} for a local one. */
    private final GlobalRate global;
    private final LongAdder refused = new LongAdder();
    private final LongAdder overflowed = new LongAdder();
    /** The {@code RateLimit-Policy} item ({@code "name";q=40;w=2}); {@code null} without a rate. */
    private final String policyItem;

    public RateLimiter(String name, RateLimitConfig config) {
        this(name, config, null);
    }

    /**
     * @param fleet where a {@code global} limit's rate is shared; {@code null} (only to check a
     *     configuration, never to run one): the limit counts locally
     */
    public RateLimiter(String name, RateLimitConfig config, Fleet fleet) {
        this.name = name;
        this.global = config.global() && fleet != null ? new GlobalRate(name, config, fleet) : null;
        this.shared = global == null ? new Counter() : global.overflow();
        this.config = config;
        int rate = config.requestsPerSecond();
        this.interval = rate == 0 ? 0 : TimeUnit.SECONDS.toNanos(1) / rate;
        this.tolerance = interval * config.burst();
        if (rate == 0) {
            policyItem = null;
        } else {
            // The draft's quota per window: the sustained rate over the time the burst takes to refill.
            long window = Math.max(1, Math.round((double) config.burst() / rate));
            policyItem = quoted(name) + ";q=" + (rate * window) + ";w=" + window;
        }
    }

    public String name() {
        return name;
    }

    public RateLimitConfig config() {
        return config;
    }

    /** Whether this limit has a rate (and so a {@code RateLimit} field). */
    boolean hasRate() {
        return interval != 0;
    }

    boolean hasConcurrency() {
        return config.maxConcurrent() > 0;
    }

    String policyItem() {
        return policyItem;
    }

    /** The counter of {@code key} (never {@code null}: the shared one when {@code maxKeys} are tracked). */
    Counter counter(Object key) {
        Counter c = keys.get(key);
        if (c != null) {
            return c;
        }
        if (keys.size() >= config.maxKeys()) {
            overflowed.increment();
            return shared;
        }
        return keys.computeIfAbsent(key, k -> global == null ? new Counter() : global.lease(k));
    }

    static long now() {
        return System.nanoTime() - ORIGIN;
    }

    /**
     * Takes a token from {@code c} at {@code now}: the nanoseconds until its bucket is full again
     * (0 or more), or, when it is empty, minus the nanoseconds until a token is there (less than 0).
     */
    long take(Counter c, long now) {
        if (global != null) {
            long ahead = global.take((GlobalRate.Lease) c, now, tolerance);
            if (ahead < 0) {
                refused.increment();
            }
            return ahead;
        }
        while (true) {
            long tat = c.tat.get();
            long next = Math.max(tat, now) + interval;
            long ahead = next - now;
            if (ahead > tolerance) {
                refused.increment();
                return -(ahead - tolerance);
            }
            if (c.tat.compareAndSet(tat, next)) {
                return ahead;
            }
        }
    }

    /** Tokens left in a bucket that is full again in {@code ahead} nanoseconds. */
    long remaining(long ahead) {
        return (tolerance - ahead) / interval;
    }

    /** Enters {@code c}'s in-flight count; false (and nothing counted) when it is at the limit. */
    boolean enter(Counter c) {
        if (c.inFlight.incrementAndGet() > config.maxConcurrent()) {
            c.inFlight.decrementAndGet();
            refused.increment();
            return false;
        }
        return true;
    }

    /** Removes the keys that are the same as new ones: bucket full, nothing in flight. */
    public void sweep() {
        long now = now();
        for (Iterator<Counter> it = keys.values().iterator(); it.hasNext(); ) {
            if (it.next().idle(now)) {
                it.remove();
            }
        }
    }

    /** Keys tracked now. */
    public int size() {
        return keys.size();
    }

    /** Requests this limit refused, since start. */
    public long refused() {
        return refused.sum();
    }

    /** Whether the fleet shares this limit's rate. */
    public boolean global() {
        return global != null;
    }

    /** Requests a {@code global} limit admitted undecided while Redis was unreachable ({@code failMode: open}). */
    public long failOpen() {
        return global == null ? 0 : global.failOpen();
    }

    /** Requests of new keys counted in the shared bucket because {@code maxKeys} were tracked. */
    public long overflowed() {
        return overflowed.sum();
    }

    /** A structured-field string (RFC 8941 section 3.3.3). */
    static String quoted(String s) {
        StringBuilder out = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '"' || c == '\\') {
                out.append('\\');
            }
            out.append(c);
        }
        return out.append('"').toString();
    }

    /** One key's state. */
    static class Counter {
        /** When the bucket is full again, in {@link #now()} time; at or before now: full. */
        final AtomicLong tat = new AtomicLong();
        final AtomicInteger inFlight = new AtomicInteger();

        /** The same as a new counter: bucket full, nothing in flight (and so removable). */
        boolean idle(long now) {
            return tat.get() <= now && inFlight.get() == 0;
        }

        void leave() {
            inFlight.decrementAndGet();
        }
    }
}
