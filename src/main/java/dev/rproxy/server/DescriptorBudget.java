package dev.rproxy.server;

import com.sun.management.UnixOperatingSystemMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.OperatingSystemMXBean;

/**
 * How many connections the process's file descriptors allow, client and backend together (the
 * way nginx counts {@code worker_connections}):
 *
 * <pre>
 *   connections = limit - openAtStart - reserve      (at least 1)
 * </pre>
 *
 * <p>Clients are admitted while the connections open, of both kinds, are under that figure (see
 * {@link dev.rproxy.pool.ConnectionLedger}); a client buffering a slow body or resting between
 * requests holds one descriptor, a client in an exchange two. The reserve is what the proxy must
 * still be able to open when every slot is taken: backend connections for admitted clients (half
 * of it), health probes, connections accepted only to be closed, and whatever the JVM opens later.
 * {@code limit} is the soft {@code RLIMIT_NOFILE} as the JVM sees it (it raises the soft limit to
 * the hard one at start unless {@code -XX:-MaxFDLimit}).
 *
 * @param limit the descriptor limit, or -1 when the platform does not say (then no cap)
 * @param openAtStart descriptors open when measured
 * @param reserve descriptors kept free beyond the connections
 * @param connections connections the descriptors allow; {@code Integer.MAX_VALUE} when unknown
 */
record DescriptorBudget(long limit, long openAtStart, int reserve, int connections) {

    /** Reads the limit and the count of open descriptors now. */
    static DescriptorBudget measure(int reserve) {
        OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (!(os instanceof UnixOperatingSystemMXBean unix)) {
            return new DescriptorBudget(-1, -1, reserve, Integer.MAX_VALUE);
        }
        return of(unix.getMaxFileDescriptorCount(), unix.getOpenFileDescriptorCount(), reserve);
    }

    static DescriptorBudget of(long limit, long openAtStart, int reserve) {
        if (limit <= 0 || openAtStart < 0) {
            return new DescriptorBudget(-1, -1, reserve, Integer.MAX_VALUE);
        }
        long cap = limit - openAtStart - reserve;
        return new DescriptorBudget(limit, openAtStart, reserve, (int) Math.max(1, Math.min(Integer.MAX_VALUE, cap)));
    }

    boolean known() {
        return limit > 0;
    }

    /**
     * The client cap to enforce: {@code configured} ({@code limits.maxConnections}, 0 for none)
     * when it fits the descriptors, else {@link #connections}.
     */
    int effectiveCap(int configured) {
        return configured > 0 ? Math.min(configured, connections) : connections;
    }

    /** For log lines: {@code descriptor limit 256, 40 open at start, reserve 64}. */
    String describe() {
        return known()
                ? "descriptor limit " + limit + ", " + openAtStart + " open at start, reserve " + reserve
                : "descriptor limit unknown";
    }
}
