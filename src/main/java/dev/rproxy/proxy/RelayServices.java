package dev.rproxy.proxy;

import dev.rproxy.backend.BackendSelector;
import dev.rproxy.backend.HealthChecker;
import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.pool.UpstreamPools;
import io.netty.util.concurrent.EventExecutor;
import java.util.Map;

/**
 * What every relay shares: how to pick a backend, where its connections come from, where failures
 * are reported, and the deadlines. Immutable; one instance per server.
 *
 * @param healthChecker receives passive failures; {@code null} when active checks are off (a backend
 *     marked down by traffic alone would never be marked up again)
 * @param limits request bodies over {@code maxBodyBytes} are cut off, and ones slower than {@code
 *     minBodyRate} refused
 * @param local requests answered by the proxy itself
 * @param budget the process-wide buffer budget: new requests are refused while it is exhausted
 * @param idleClients each event loop's idle client connections, oldest first
 */
public record RelayServices(
        BackendSelector selector,
        UpstreamPools pools,
        HealthChecker healthChecker,
        TimeoutsConfig timeouts,
        boolean accessLog,
        LimitsConfig limits,
        LocalResponder local,
        BufferBudget budget,
        Map<EventExecutor, IdleClients> idleClients) {}
