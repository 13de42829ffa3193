package dev.rproxy.fleet;

import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLongArray;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The proxy's membership in a fleet of proxies that share state through one Redis server: the
 * heartbeat that announces it and counts the members, whether Redis answers (the {@link Mode} the
 * fleet's global limits are in), and the one call the limits make, {@link #grant}.
 *
 * <p>Members: a sorted set ({@link #MEMBERS_KEY}) of instance ids scored by when each one's
 * announcement expires. Every second each proxy re-adds itself {@link #MEMBER_TTL_MS} ahead,
 * removes the expired ones and counts the rest, in one script, on Redis' clock (so members' clocks
 * need not agree). A proxy that stops is gone within three seconds (at once when it stops cleanly).
 *
 * <p>Mode: {@link Mode#GLOBAL} while Redis answers; the configured fail mode from the first failed
 * call (an error, a lost connection, or no answer within {@code timeoutMs}) until a heartbeat
 * succeeds again, tried every 250 ms while down. Each change is logged once and counted by the mode
 * entered. The mode is one volatile read: requests consult it, never Redis.
 */
public final class Fleet implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Fleet.class);

    /** What the fleet's global limits do: share through Redis, or one of the fail modes. */
    public enum Mode {
        GLOBAL, OPEN, CLOSED, LOCAL;

        /** The name used in configuration and metrics. */
        public String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final String MEMBERS_KEY = "rproxy:fleet:members";
    /** Bucket keys: this, the limit's name, {@code :}, the key. */
    public static final String BUCKET_PREFIX = "rproxy:rl:";
    static final long HEARTBEAT_MS = 1000;
    static final long RETRY_MS = 250;
    static final long MEMBER_TTL_MS = 3000;

    /**
     * Adds this member until {@code ARGV[2]} ms from now, drops expired ones, counts the rest.
     * KEYS[1]: the members set; ARGV[1]: this member's id.
     */
    private static final RedisLink.Script HEARTBEAT = RedisLink.Script.of("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            local ttl = tonumber(ARGV[2])
            redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
            redis.call('PEXPIRE', KEYS[1], ttl * 2)
            return {redis.call('ZCARD', KEYS[1])}
            """);
    /**
     * The members of a registry (a sorted set scored by expiry, epoch ms) not yet expired on
     * Redis' clock; the expired ones are removed. KEYS[1]: the registry.
     */
    private static final RedisLink.Script REGISTERED = RedisLink.Script.of("""
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
            redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
            return redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
            """);
    private static final RedisLink.Script LEAVE = RedisLink.Script.of("""
            return {redis.call('ZREM', KEYS[1], ARGV[1])}
            """);

    private final Mode failMode;
    private final String id;
    private final RedisLink link;
    private final HealthChannel health;
    private final ProbeClaims probeClaims;
    private final AtomicLongArray transitions = new AtomicLongArray(Mode.values().length);
    private final CompletableFuture<Void> firstUp = new CompletableFuture<>();
    private volatile boolean up;
    private volatile boolean closing;
    /** Members seen by the last heartbeat that succeeded; 1 (this one) before any. */
    private volatile int members = 1;
    private ScheduledFuture<?> ticks;
    private int tick;

    /**
     * Prepares the connection; nothing is opened before {@link #start()}.
     *
     * @param failMode     {@link Mode#OPEN}, {@link Mode#CLOSED} or {@link Mode#LOCAL}
     * @param loops        the proxy's worker loops (see {@link RedisLink})
     * @param channelClass the proxy's socket channel class
     */
    public Fleet(String url, long timeoutMs, Mode failMode, EventLoopGroup loops, Class<? extends Channel> channelClass) {
        if (failMode == Mode.GLOBAL) {
            throw new IllegalArgumentException("a fail mode is open, closed or local");
        }
        this.failMode = failMode;
        String host = System.getenv("HOSTNAME");
        this.id = (host == null || host.isBlank() ? "rproxy" : host) + "-" + ProcessHandle.current().pid() + "-"
                + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
        this.link = new RedisLink(url, timeoutMs, loops, channelClass, new RedisLink.Events() {
            @Override
            public void connected() {
                link().executors().execute(Fleet.this::heartbeat);
            }

            @Override
            public void disconnected() {
                down("connection lost");
            }
        });
        this.health = new HealthChannel(link, id);
        this.probeClaims = new ProbeClaims(link, id);
    }

    /** Who of the fleet probes a backend this interval ({@code healthCheck.spread}). */
    public ProbeClaims probeClaims() {
        return probeClaims;
    }

    /** The fleet's health news: what members publish of their backends' health. */
    public HealthChannel health() {
        return health;
    }

    private RedisLink link() {
        return link;
    }

    /** Connects and starts the heartbeat; the fleet starts in its fail mode until the first heartbeat answers. */
    public void start() {
        link.connect().thenRun(() -> link.executors().execute(this::heartbeat));
        health.subscribe();
        ticks = link.executors().next().scheduleWithFixedDelay(this::tick, RETRY_MS, RETRY_MS, TimeUnit.MILLISECONDS);
    }

    /** Waits, from a thread that is not an event loop, for Redis to answer a first heartbeat. */
    public boolean awaitGlobal(long timeoutMs) {
        try {
            firstUp.get(timeoutMs, TimeUnit.MILLISECONDS);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } catch (java.util.concurrent.ExecutionException e) {
            return false;
        }
    }

    /** Every 250 ms on the fleet's thread: a heartbeat each second while up, each time while down. */
    private void tick() {
        if (!link.open()) {
            link.connect();
        }
        if (!health.subscribed()) {
            health.subscribe();
        }
        if (!up || ++tick % (HEARTBEAT_MS / RETRY_MS) == 0) {
            heartbeat();
        }
    }

    private void heartbeat() {
        link.run(HEARTBEAT, new String[] {MEMBERS_KEY}, id, Long.toString(MEMBER_TTL_MS)).whenComplete((reply, e) -> {
            if (e != null) {
                down(describe(e));
                return;
            }
            members = Math.max(1, ((Long) reply.get(0)).intValue());
            upAgain();
        });
    }

    /**
     * Takes tokens from the bucket {@code key} in Redis (see {@link GrantScript}): first {@code
     * force} that were spent already (admitted on this proxy's own account), then up to {@code want}.
     * A failure puts the fleet into its fail mode.
     *
     * @param bucket the limit's rate and burst, as {@link #bucket} wrote them
     */
    public CompletableFuture<Grant> grant(String key, String[] bucket, long force, long want) {
        return link.run(GrantScript.SCRIPT, new String[] {key}, bucket[0], bucket[1], Long.toString(force), Long.toString(want))
                .handle((reply, e) -> {
                    if (e != null) {
                        down(describe(e));
                        throw new java.util.concurrent.CompletionException(RedisLink.unwrap(e));
                    }
                    return new Grant((Long) reply.get(0), (Long) reply.get(1));
                });
    }

    /**
     * The members of the registry {@code key} whose registration has not expired (see {@link
     * dev.rproxy.config.DiscoveryConfig}), the expired ones removed on the way; a failure when not
     * connected, on an error, or after {@code timeoutMs}. Completes on the connection's thread. A
     * failure here leaves the fleet's mode alone: the heartbeat decides it.
     */
    public CompletableFuture<List<String>> registered(String key) {
        return link.run(REGISTERED, new String[] {key}).thenApply(reply -> {
            List<String> members = new ArrayList<>(reply.size());
            for (Object member : reply) {
                members.add(String.valueOf(member));
            }
            return members;
        });
    }

    /** Where the fleet's connection is, for messages. */
    public String address() {
        return link.address();
    }

    /** A limit's rate and fleet-wide burst as {@link #grant} takes them, written once per limit. */
    public static String[] bucket(int requestsPerSecond, int burst) {
        return new String[] {String.format(Locale.ROOT, "%.6f", 1e6 / requestsPerSecond), Integer.toString(burst)};
    }

    /** What Redis gave: tokens, and when none, microseconds until the next one is there. */
    public record Grant(long granted, long waitMicros) {
    }

    private static String describe(Throwable e) {
        Throwable cause = RedisLink.unwrap(e);
        return cause instanceof TimeoutException ? "no answer in time" : String.valueOf(cause.getMessage());
    }

    private synchronized void upAgain() {
        if (!up) {
            up = true;
            transitions.incrementAndGet(Mode.GLOBAL.ordinal());
            log.info("fleet: Redis at {} answers; global limits are shared ({} members seen)", link.address(), members);
        }
        firstUp.complete(null);
    }

    private synchronized void down(String why) {
        if (up && !closing) {
            up = false;
            transitions.incrementAndGet(failMode.ordinal());
            log.warn("fleet: Redis at {} is unreachable ({}); global limits fail {}{}", link.address(), why,
                    failMode.label(), failMode == Mode.LOCAL ? " (rate / " + members + " members here)" : "");
        }
    }

    /** The mode global limits are in now: one volatile read. */
    public Mode mode() {
        return up ? Mode.GLOBAL : failMode;
    }

    /** Whether Redis answered the last call. */
    public boolean connected() {
        return up;
    }

    /** Fleet members seen by the last heartbeat that Redis answered (this proxy among them); 1 before any. */
    public int members() {
        return members;
    }

    /** Changes into {@code mode} since start. */
    public long transitions(Mode mode) {
        return transitions.get(mode.ordinal());
    }

    /** This proxy's id among the members. */
    public String id() {
        return id;
    }

    /** Leaves the fleet (the others stop counting this proxy at once) and closes the connection. Blocks briefly. */
    @Override
    public void close() {
        closing = true;
        if (ticks != null) {
            ticks.cancel(false);
        }
        if (link.open()) {
            try {
                link.run(LEAVE, new String[] {MEMBERS_KEY}, id).get(1, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.debug("fleet: leaving failed: {}", e.toString());
            }
        }
        up = false;
        health.close();
        link.close();
    }
}
