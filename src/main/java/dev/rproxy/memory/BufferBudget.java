package dev.rproxy.memory;

import io.netty.channel.Channel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.internal.PlatformDependent;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The process-wide budget of bytes held in buffers, and the pressure level it is at.
 *
 * <p>What is counted: every direct buffer Netty has allocated, as its allocator reports it
 * ({@link PlatformDependent#usedDirectMemory()}): request and response bytes queued for slow
 * peers, read buffers, held response heads, buffered request bodies, and the allocator's own
 * chunks. That is the figure that ends in an {@code OutOfMemoryError} when it reaches the JVM's
 * direct memory limit, so it is the one watched, against {@code limits.maxBufferBytes} (by default
 * that limit itself).
 *
 * <p>Two readings of it. Live, where bytes are about to be taken (a socket read, a write queued for
 * a peer): one atomic read of the allocator's counter, so that a burst of connections cannot fill
 * memory between two samples. Sampled, every {@link #SAMPLE_MS} ms on one thread, for what may lag
 * a little: the level, its log line, refusing new requests, and cutting stalled clients; the event
 * loops read the level through one volatile read.
 *
 * <pre>
 *   NORMAL ──used ≥ 50%──▶ HIGH ──used ≥ 85%──▶ CRITICAL
 *          ◀──used < 40%──      ◀──used < 70%──
 * </pre>
 *
 * <ul>
 *   <li>Over half the budget (live) or at HIGH: the connections that take more get the smaller
 *       allowance ({@link #fitAllowance}: write buffer marks of 4/16 KiB instead of 16/64 KiB, reads
 *       of at most 8 KiB), so sources that fill buffers (backends sending to slow clients, clients
 *       sending bodies to slow backends) pause sooner; clients that have not read their response
 *       for {@link #stallLimitNanos} are cut.
 *   <li>CRITICAL: as HIGH, with a shorter stall limit, and new requests are refused with 503 and
 *       {@code Retry-After} (the proxy's own {@code /_health} is still answered).
 * </ul>
 */
public final class BufferBudget {
    private static final Logger log = LoggerFactory.getLogger(BufferBudget.class);

    public static final long SAMPLE_MS = 50;
    /**
     * Write buffer marks of every client and upstream connection without pressure: 64 KiB queued
     * for a slow peer, about what nginx holds per connection with its default proxy buffers. A
     * larger queue streams no faster (a 1 MiB GET, a 1 GiB download and upload measured the same
     * with 128 KiB), while each slow reader holds twice as much and a crowd of them arriving at
     * once costs more copying before their backends pause.
     */
    public static final WriteBufferWaterMark NORMAL_MARKS = new WriteBufferWaterMark(16 * 1024, 64 * 1024);
    static final WriteBufferWaterMark PRESSURE_MARKS = new WriteBufferWaterMark(4 * 1024, 16 * 1024);

    public enum Level { NORMAL, HIGH, CRITICAL }

    /** Told on the sampling thread after each sample taken under pressure and on every change. */
    public interface Listener {
        void pressure(Level level, boolean changed);
    }

    private final long limit;
    private final LongSupplier used;
    private final long idleNanos;
    private volatile Level level = Level.NORMAL;
    private Listener listener = (l, c) -> { };

    /**
     * @param configuredLimit {@code limits.maxBufferBytes}; 0 means the JVM's direct memory limit
     * @param idleMs          {@code timeouts.idleMs}, the stall limit without pressure
     */
    public BufferBudget(long configuredLimit, long idleMs) {
        this(configuredLimit > 0 ? configuredLimit : PlatformDependent.maxDirectMemory(),
                PlatformDependent::usedDirectMemory, idleMs);
    }

    BufferBudget(long limit, LongSupplier used, long idleMs) {
        this.limit = limit;
        this.used = used;
        this.idleNanos = idleMs * 1_000_000L;
    }

    public void listener(Listener listener) {
        this.listener = listener;
    }

    public long limit() {
        return limit;
    }

    public long used() {
        return Math.max(0, used.getAsLong());
    }

    public Level level() {
        return level;
    }

    /** Whether new requests are refused (503) until the pressure eases. */
    public boolean shedding() {
        return level == Level.CRITICAL;
    }

    /** Whether connections get the smaller allowance: at HIGH or above, or over half the budget now. */
    public boolean constrained() {
        return level != Level.NORMAL || overHalf();
    }

    /** Over half the budget at this moment (one atomic read). */
    public boolean overHalf() {
        return used.getAsLong() >= limit / 2;
    }

    /**
     * Gives {@code ch} the allowance memory allows now: the smaller one under pressure, the larger
     * one again once the pressure is gone (a channel is never left with the smaller one by a burst
     * that passed between two samples). Its writability follows from its next write or drain.
     * Called on the channel's loop, where bytes are about to be queued on it; changes nothing, and
     * costs two volatile reads, when the channel already has the right marks.
     */
    public void fitAllowance(Channel ch) {
        boolean small = ch.config().getWriteBufferHighWaterMark() <= PRESSURE_MARKS.high();
        if (constrained() != small) {
            ch.config().setWriteBufferWaterMark(small ? NORMAL_MARKS : PRESSURE_MARKS);
        }
    }

    /** Whether the allocator's count is available; without it the budget cannot act. */
    public boolean counting() {
        return used.getAsLong() >= 0;
    }

    /**
     * How long a client may leave its response unread while its backend is paused, at this level:
     * {@code timeouts.idleMs} without pressure, at most 5 s under HIGH and 1 s under CRITICAL.
     */
    public long stallLimitNanos() {
        return switch (level) {
            case NORMAL -> idleNanos;
            case HIGH -> Math.min(idleNanos, 5_000_000_000L);
            case CRITICAL -> Math.min(idleNanos, 1_000_000_000L);
        };
    }

    /**
     * Write buffer marks of a connection at this level: above the high mark its source pauses,
     * below the low one it reads again.
     */
    public WriteBufferWaterMark waterMark() {
        return level == Level.NORMAL ? NORMAL_MARKS : PRESSURE_MARKS;
    }

    /** Largest socket read under pressure. */
    static final int CONSTRAINED_READ = 8 * 1024;

    /** Takes one sample and moves between levels; runs on the sampling thread only. */
    public void sample() {
        long u = used();
        Level before = level;
        Level after = next(before, u);
        if (after != before) {
            level = after;
            if (after.compareTo(before) > 0) {
                log.warn("buffer memory {} MiB of {} MiB: pressure {} ({})", mib(u), mib(limit), after,
                        after == Level.CRITICAL ? "new requests refused with 503" : "smaller per-connection buffers");
            } else {
                log.info("buffer memory {} MiB of {} MiB: pressure {}", mib(u), mib(limit), after);
            }
        }
        if (after != Level.NORMAL || after != before) {
            listener.pressure(after, after != before);
        }
    }

    Level next(Level current, long u) {
        double share = (double) u / limit;
        return switch (current) {
            case NORMAL -> share >= 0.85 ? Level.CRITICAL : share >= 0.5 ? Level.HIGH : Level.NORMAL;
            case HIGH -> share >= 0.85 ? Level.CRITICAL : share < 0.4 ? Level.NORMAL : Level.HIGH;
            case CRITICAL -> share < 0.4 ? Level.NORMAL : share < 0.7 ? Level.HIGH : Level.CRITICAL;
        };
    }

    private static long mib(long bytes) {
        return bytes >> 20;
    }
}
