package dev.rproxy.edge;

import dev.rproxy.config.RateLimitConfig;
import dev.rproxy.fleet.Fleet;
import java.net.InetAddress;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The rate of a {@code global} limit: one bucket per key for the whole fleet, kept in Redis, from
 * which each proxy leases small batches of tokens ahead of need, so that a request is decided
 * against the local lease alone and never waits on Redis.
 *
 * <p>Per key, a {@link Lease}: the tokens this proxy holds, at most one grant request in flight,
 * and when Redis said the bucket would have a token again. A request takes a held token; the one
 * that leaves {@code batch / 2} or fewer sends for {@code batch} more ({@code batch = rate / 50},
 * at least 1 and at most the burst), so under steady load the next batch is there before this one
 * runs out. With no token held, a request is refused (429), and a grant is asked for unless Redis
 * said when one is there again; the fleet as a whole admits what Redis grants, which is the rate.
 *
 * <p>A key this proxy has no recent word from Redis about (new, or quiet for a second) would be
 * refused on its first request for no reason but the round trip. Instead it is decided by a local
 * bucket of this proxy's share (rate and burst divided by the fleet's members), admitted on credit,
 * and the credit is taken from the Redis bucket with the next grant ({@code force}), beyond the
 * burst if need be, so it delays later grants rather than adding to the total.
 *
 * <p>Error bound: over any span {@code T}, the fleet admits at most {@code burst + rate x T} (what
 * Redis grants) plus the tokens held at the span's start, at most {@code N x 1.5 x batch} for
 * {@code N} proxies, plus credits not yet repaid (a new key's share of the burst); held tokens
 * unused for a second are dropped, so a quiet proxy does not spend old tokens late.
 *
 * <p>While Redis is unreachable ({@link Fleet#mode()}), the fail mode decides: {@code open}
 * admits (counted in {@link #failOpen}), {@code closed} refuses, {@code local} applies the local
 * share bucket to every request.
 *
 * <p>Threads: any event loop takes; grant replies arrive on the Redis connection's loop. All state
 * is atomics; a lease has one grant in flight at most.
 */
final class GlobalRate {
    /** Held tokens not renewed by a grant for this long are dropped. */
    static final long LEASE_NANOS = TimeUnit.SECONDS.toNanos(1);

    private final Fleet fleet;
    private final String prefix;
    private final String[] bucket;
    private final int burst;
    /** Nanoseconds per token, fleet-wide. */
    private final long interval;
    private final long batch;
    private final long lowWater;
    private final LongAdder failOpen = new LongAdder();
    private final LongAdder dropped = new LongAdder();

    GlobalRate(String name, RateLimitConfig config, Fleet fleet) {
        this.fleet = fleet;
        this.prefix = Fleet.BUCKET_PREFIX + name + ":";
        this.bucket = Fleet.bucket(config.requestsPerSecond(), config.burst());
        this.burst = config.burst();
        this.interval = TimeUnit.SECONDS.toNanos(1) / config.requestsPerSecond();
        this.batch = Math.max(1, Math.min(config.requestsPerSecond() / 50, config.burst()));
        this.lowWater = batch / 2;
    }

    /** A new key's lease; its Redis key names the limit and the key. */
    Lease lease(Object key) {
        return new Lease(prefix + redisKey(key));
    }

    /** The lease of the keys beyond {@code maxKeys}, shared. */
    Lease overflow() {
        return new Lease(prefix + "overflow");
    }

    private static String redisKey(Object key) {
        if (key instanceof InetAddress address) {
            return "ip:" + address.getHostAddress();
        }
        if (key instanceof RoutePolicy route) {
            return "route:" + route.routeIndex();
        }
        return "k:" + key;
    }

    /**
     * Takes a token of {@code l} at {@code now}, as {@link RateLimiter#take} does: 0 or more when
     * admitted (the lease seen as a bucket: {@code burst - held} intervals), less than 0 when
     * refused (minus the nanoseconds until a token is likely there).
     */
    long take(Lease l, long now, long tolerance) {
        Fleet.Mode mode = fleet.mode();
        if (mode != Fleet.Mode.GLOBAL) {
            return failed(l, now, mode);
        }
        while (true) {
            long held = l.tokens.get();
            if (held <= 0) {
                break;
            }
            if (now - l.heardAt > LEASE_NANOS) {
                if (l.tokens.compareAndSet(held, 0)) {
                    dropped.add(held);
                }
                continue;
            }
            if (l.tokens.compareAndSet(held, held - 1)) {
                if (held - 1 <= lowWater) {
                    ask(l, now);
                }
                return Math.max(0, tolerance - (held - 1) * interval);
            }
        }
        if (l.cold(now)) {
            long ahead = share(l, now, tolerance);
            if (ahead >= 0) {
                l.credit.incrementAndGet();
            }
            ask(l, now);
            return ahead;
        }
        ask(l, now);
        return -Math.max(l.retryAt - now, interval);
    }

    /** The decision while Redis is unreachable. */
    private long failed(Lease l, long now, Fleet.Mode mode) {
        return switch (mode) {
            case OPEN -> {
                failOpen.increment();
                yield 0;
            }
            case LOCAL -> share(l, now, 0);
            default -> -TimeUnit.SECONDS.toNanos(1); // closed
        };
    }

    /**
     * This proxy's share of the limit, a local bucket of {@code rate / members} and {@code burst /
     * members} (at least 1) on the lease's TAT, with the members counted before Redis went away.
     * Admitted: how far ahead the share's bucket is, scaled to the fleet's {@code tolerance}.
     */
    private long share(Lease l, long now, long tolerance) {
        int members = fleet.members();
        long step = interval * members;
        long limit = step * Math.max(1, burst / members);
        while (true) {
            long tat = l.tat.get();
            long next = Math.max(tat, now) + step;
            long ahead = next - now;
            if (ahead > limit) {
                return -(ahead - limit);
            }
            if (l.tat.compareAndSet(tat, next)) {
                return (long) ((double) ahead / limit * tolerance);
            }
        }
    }

    /**
     * Sends for a batch, with the credit spent meanwhile, unless a request is in flight or Redis
     * said none is there yet (credit is sent all the same: it must reach Redis).
     */
    private void ask(Lease l, long now) {
        if ((now < l.retryAt && l.credit.get() == 0) || !l.asking.compareAndSet(false, true)) {
            return;
        }
        long force = l.credit.getAndSet(0);
        fleet.grant(l.key, bucket, force, batch).whenComplete((grant, e) -> {
            long at = RateLimiter.now();
            if (e != null) {
                l.credit.addAndGet(force); // sent again once Redis is back
                l.asking.set(false);
                return;
            }
            l.heardAt = at; // before the tokens: a taker that sees them sees them fresh
            l.retryAt = grant.granted() > 0 ? 0 : at + TimeUnit.MICROSECONDS.toNanos(grant.waitMicros());
            l.tokens.addAndGet(grant.granted());
            l.asking.set(false);
            if (l.credit.get() > 0) {
                ask(l, at);
            }
        });
    }

    /** Requests admitted without a decision because Redis was unreachable and the fail mode is open. */
    long failOpen() {
        return failOpen.sum();
    }

    /** Held tokens dropped unused because no grant renewed them in time. */
    long dropped() {
        return dropped.sum();
    }

    /**
     * One key's lease. {@link RateLimiter.Counter#tat} is the local share bucket (credit for a cold
     * key, or the fail mode {@code local}); in-flight counts stay this proxy's own.
     */
    static final class Lease extends RateLimiter.Counter {
        final String key;
        final AtomicLong tokens = new AtomicLong();
        /** Spent on this proxy's account, not yet taken from the Redis bucket. */
        final AtomicLong credit = new AtomicLong();
        final AtomicBoolean asking = new AtomicBoolean();
        /** When Redis last answered for this key ({@link RateLimiter#now()} time); long ago: never. */
        volatile long heardAt = Long.MIN_VALUE / 2;
        /** When Redis expects a token again, after a grant of none. */
        volatile long retryAt;

        Lease(String key) {
            this.key = key;
        }

        /** No recent word from Redis: neither a grant within the lease time nor a wait still running. */
        boolean cold(long now) {
            return now - heardAt > LEASE_NANOS && now >= retryAt;
        }

        @Override
        boolean idle(long now) {
            return super.idle(now) && cold(now) && !asking.get() && credit.get() == 0;
        }
    }
}
