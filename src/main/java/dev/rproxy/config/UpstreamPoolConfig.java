package dev.rproxy.config;

/**
 * An upstream's own connection limits, its circuit breaker: each key it leaves out takes the
 * top-level {@code pool}'s value. Idle connections close after the top-level {@code
 * pool.idleTimeoutMs} in every upstream.
 *
 * @param maxConnectionsPerBackend open connections per backend, >= 1
 * @param maxPendingAcquires       requests waiting for a connection per backend, >= 0
 * @param acquireTimeoutMs         how long a request waits for one, >= 1
 */
public record UpstreamPoolConfig(int maxConnectionsPerBackend, int maxPendingAcquires, long acquireTimeoutMs) {

    public UpstreamPoolConfig {
        Checks.atLeast("maxConnectionsPerBackend", maxConnectionsPerBackend, 1);
        Checks.atLeast("maxPendingAcquires", maxPendingAcquires, 0);
        Checks.atLeast("acquireTimeoutMs", acquireTimeoutMs, 1);
    }

    /** These limits with the top-level pool's idle timeout. */
    public PoolConfig within(PoolConfig top) {
        return new PoolConfig(maxConnectionsPerBackend, maxPendingAcquires, acquireTimeoutMs, top.idleTimeoutMs());
    }
}
