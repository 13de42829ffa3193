package dev.rproxy.proxy;

import dev.rproxy.backend.BackendSelector;
import dev.rproxy.backend.HealthChecker;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.pool.UpstreamPools;

/**
 * What every relay shares: how to pick a backend, where its connections come from, where failures
 * are reported, and the deadlines. Immutable; one instance per server.
 *
 * @param healthChecker receives passive failures; {@code null} when active checks are off (a backend
 *     marked down by traffic alone would never be marked up again)
 * @param maxBodyBytes request bodies above this are cut off (0: no limit)
 * @param local requests answered by the proxy itself
 */
public record RelayServices(
        BackendSelector selector,
        UpstreamPools pools,
        HealthChecker healthChecker,
        TimeoutsConfig timeouts,
        boolean accessLog,
        long maxBodyBytes,
        LocalResponder local) {}
