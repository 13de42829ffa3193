package dev.rproxy.config;

/**
 * Upstream connection pools, one per event loop and backend; the limits apply to each pool.
 *
 * @param maxConnectionsPerBackend open connections per pool, >= 1
 * @param maxPendingAcquires       requests waiting for a connection per pool, >= 0 (0: fail at once)
 * @param acquireTimeoutMs         how long a request waits for a connection, >= 1
 * @param idleTimeoutMs            a pooled connection unused this long is closed, >= 1
 */
public record PoolConfig(int maxConnectionsPerBackend, int maxPendingAcquires, long acquireTimeoutMs,
                         long idleTimeoutMs) {

    public static final PoolConfig DEFAULT = new PoolConfig(1024, 4096, 5000, 60000);

    public PoolConfig {
        Checks.atLeast("maxConnectionsPerBackend", maxConnectionsPerBackend, 1);
        Checks.atLeast("maxPendingAcquires", maxPendingAcquires, 0);
        Checks.atLeast("acquireTimeoutMs", acquireTimeoutMs, 1);
        Checks.atLeast("idleTimeoutMs", idleTimeoutMs, 1);
    }
}
