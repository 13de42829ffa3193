package dev.rproxy.edge;

import dev.rproxy.config.RateLimitConfig;
import dev.rproxy.fleet.Fleet;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The named limits of a configuration ({@code rateLimits}), and the sweep that keeps their key
 * tables small. A reload keeps a limit whose name and settings are unchanged, with its buckets and
 * in-flight counts, so that a reload is no way to reset a client's limit.
 */
public final class RateLimits implements AutoCloseable {
    /** How often idle keys are removed. */
    static final long SWEEP_MS = 5_000;
    private final Map<String, RateLimiter> byName = new LinkedHashMap<>();
    private final ScheduledFuture<?> sweeps;

    /** @param previous the limits before a reload, {@code null} at start */
    public RateLimits(Map<String, RateLimitConfig> configs, RateLimits previous) {
        this(configs, previous, null);
    }

    /**
     * @param fleet where {@code global} limits share their rates; {@code null} when there is none
     *     (they then count locally: only to check a configuration)
     */
    public RateLimits(Map<String, RateLimitConfig> configs, RateLimits previous, Fleet fleet) {
        for (Map.Entry<String, RateLimitConfig> e : configs.entrySet()) {
            RateLimiter kept = previous == null ? null : previous.byName.get(e.getKey());
            byName.put(e.getKey(), kept != null && kept.config().equals(e.getValue()) ? kept
                    : new RateLimiter(e.getKey(), e.getValue(), fleet));
        }
        sweeps = byName.isEmpty() ? null
                : Background.executor().scheduleWithFixedDelay(this::sweep, SWEEP_MS, SWEEP_MS, TimeUnit.MILLISECONDS);
    }

    public RateLimiter get(String name) {
        return byName.get(name);
    }

    public Collection<RateLimiter> all() {
        return byName.values();
    }

    void sweep() {
        for (RateLimiter limiter : byName.values()) {
            limiter.sweep();
        }
    }

    /** Stops sweeping (a limit carried over into the next configuration is swept by that one). */
    @Override
    public void close() {
        if (sweeps != null) {
            sweeps.cancel(false);
        }
    }
}
