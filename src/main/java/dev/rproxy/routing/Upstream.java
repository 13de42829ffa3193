package dev.rproxy.routing;

import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.backend.HealthChecker;
import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.RetryConfig;
import dev.rproxy.config.UpstreamConfig;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * One upstream group at run time: its backends and their state, the balancer that picks among
 * them, their active probes and passive health, and the retry budget.
 *
 * <p>The retry budget (Envoy's): retries in flight stay under {@code retries.budgetPercent} of the
 * requests in flight on this upstream, and {@value RetryConfig#MIN_RETRY_CONCURRENCY} are always
 * allowed, so a group that fails everything is not hit by a retry for every request while a lone
 * failure is still retried. Both counts are atomics updated once per request and per retry.
 */
public final class Upstream implements AutoCloseable {
    private final String name;
    private final UpstreamConfig config;
    private final BackendGroup group;
    private final Balancer balancer;
    private final HealthChecker healthChecker;
    private final OutlierDetector outliers;
    private final AtomicInteger inFlight = new AtomicInteger();
    private final int maxRequests;
    private int metricsIndex = -1;
    private int metricsSlot;
    private final AtomicInteger retriesInFlight = new AtomicInteger();

    /**
     * @param at       the JSON path of its backends, for messages
     * @param loops    where probes and ejection timers run
     * @throws dev.rproxy.config.ConfigException when a backend's TLS files do not load
     */
    public Upstream(String name, UpstreamConfig config, String at, long tlsHandshakeMs, PoolConfig topPool,
                    EventLoopGroup loops, Class<? extends Channel> channelClass, Function<BackendConfig, Backend> kept) {
        this.name = name;
        this.config = config;
        this.group = new BackendGroup(name, at, config.backends(), tlsHandshakeMs,
                config.panicThresholdPercent(), config.pool() == null ? null : config.pool().within(topPool), kept);
        this.maxRequests = config.maxRequests() > 0 ? config.maxRequests() : Integer.MAX_VALUE;
        this.balancer = Balancer.of(config, group);
        this.healthChecker = config.healthCheck().enabled() && loops != null
                ? new HealthChecker(group, config.healthCheck(), loops, channelClass) : null;
        this.outliers = config.outlierDetection() == null || loops == null
                ? null : new OutlierDetector(group, config.outlierDetection(), loops);
    }

    public String name() {
        return name;
    }

    /** Its index among the per-upstream counts of {@link ProxyMetrics}, and the slot of its requests no backend took. */
    void metrics(int index, int slot) {
        this.metricsIndex = index;
        this.metricsSlot = slot;
    }

    public int metricsIndex() {
        return metricsIndex;
    }

    public int metricsSlot() {
        return metricsSlot;
    }

    public UpstreamConfig config() {
        return config;
    }

    public BackendGroup backends() {
        return group;
    }

    public Balancer balancer() {
        return balancer;
    }

    public RetryConfig retries() {
        return config.retries();
    }

    /** Its active probes, or {@code null} when they are off. */
    public HealthChecker healthChecker() {
        return healthChecker;
    }

    /** Whether passive health ejects its backends. */
    public boolean outlierDetection() {
        return outliers != null;
    }

    // ---------------------------------------------------------------- results of requests

    /** A response from {@code backend} that is not a failure (a status under 500). */
    public void succeeded(Backend backend) {
        if (outliers != null) {
            outliers.success(backend);
        }
    }

    /**
     * A request that failed on {@code backend}: a connect failure ({@code connect}: nothing reached
     * it, which also counts against it as a failed probe when probes are on), a reset before the
     * response, or a 5xx.
     */
    public void failed(Backend backend, String reason, boolean connect) {
        if (connect && healthChecker != null) {
            healthChecker.recordPassiveFailure(backend, reason);
        }
        if (outliers != null) {
            outliers.failure(backend, reason);
        }
    }

    // ---------------------------------------------------------------- in flight, retry budget

    /**
     * Counts one more request in flight, unless {@code maxRequests} are already: then false, and
     * the request gets a fast 503 (nothing was counted).
     */
    public boolean requestStarted() {
        if (maxRequests == Integer.MAX_VALUE) {
            inFlight.incrementAndGet();
            return true;
        }
        while (true) {
            int now = inFlight.get();
            if (now >= maxRequests) {
                return false;
            }
            if (inFlight.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    public void requestEnded() {
        inFlight.decrementAndGet();
    }

    public int requestsInFlight() {
        return inFlight.get();
    }

    /** Takes a place for one retry in the budget; false when the budget is spent. */
    public boolean startRetry() {
        int limit = Math.max(RetryConfig.MIN_RETRY_CONCURRENCY, inFlight.get() * config.retries().budgetPercent() / 100);
        while (true) {
            int now = retriesInFlight.get();
            if (now >= limit) {
                return false;
            }
            if (retriesInFlight.compareAndSet(now, now + 1)) {
                return true;
            }
        }
    }

    /** Gives back the place {@link #startRetry} took. */
    public void retryEnded() {
        retriesInFlight.decrementAndGet();
    }

    public int retriesInFlight() {
        return retriesInFlight.get();
    }

    /** Starts the probes; the first probe of every backend goes out at once. */
    public void start() {
        if (healthChecker != null) {
            healthChecker.start();
        }
    }

    @Override
    public void close() {
        if (healthChecker != null) {
            healthChecker.close();
        }
    }
}
