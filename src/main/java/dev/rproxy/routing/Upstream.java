package dev.rproxy.routing;

import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.backend.BackendSource;
import dev.rproxy.backend.HealthChecker;
import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.RetryConfig;
import dev.rproxy.config.UpstreamConfig;
import dev.rproxy.fleet.Fleet;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One upstream group at run time: its backends and their state, the balancer that picks among
 * them, their active probes and passive health, and the retry budget.
 *
 * <p>The retry budget (Envoy's): retries in flight stay under {@code retries.budgetPercent} of the
 * requests in flight on this upstream, and {@value RetryConfig#MIN_RETRY_CONCURRENCY} are always
 * allowed, so a group that fails everything is not hit by a retry for every request while a lone
 * failure is still retried. Both counts are atomics updated once per request and per retry.
 *
 * <p>A discovered upstream ({@code discovery}) has a {@link BackendSource}: each answer it gives
 * becomes the group's set of backends ({@link BackendGroup#update}); a backend that joins gets its
 * metrics name and its probes before any request can reach it, and one that leaves drains (its
 * pools are retired by whoever {@link Membership} tells). Answers are applied one at a time, under
 * this object's monitor.
 */
public final class Upstream implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Upstream.class);

    /** Told of the backends a discovered upstream gains and loses. */
    public interface Membership {
        /** {@code backend} joins {@code upstream}: called before any request can reach it. */
        void joining(Upstream upstream, Backend backend);

        /** {@code left} are out of {@code upstream}: no new request goes to them; those in flight finish. */
        void left(Upstream upstream, List<Backend> left);

        Membership NONE = new Membership() {
            @Override
            public void joining(Upstream upstream, Backend backend) {
            }

            @Override
            public void left(Upstream upstream, List<Backend> left) {
            }
        };
    }

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
    /** Its discovery; {@code null} for listed backends, or when only checking a configuration. */
    private final BackendSource source;
    private final Membership membership;
    // Guarded by this.
    private boolean held;
    private boolean closed;
    /** Until its first answer is applied, at start-up only: those backends begin at their full share. */
    private boolean startingUp;

    /**
     * @param at       the JSON path of its backends, for messages
     * @param loops    where probes and ejection timers run
     * @throws dev.rproxy.config.ConfigException when a backend's TLS files do not load
     */
    public Upstream(String name, UpstreamConfig config, String at, long tlsHandshakeMs, PoolConfig topPool,
                    EventLoopGroup loops, Class<? extends Channel> channelClass, Function<BackendConfig, Backend> kept) {
        this(name, config, at, tlsHandshakeMs, topPool, loops, channelClass, kept, List.of(), Membership.NONE, null);
    }

    /**
     * @param discovered for a discovered upstream, the backends it starts with (those of the
     *     upstream before a reload, when its {@code discovery} is the same; {@code kept} carries
     *     them over); ignored otherwise
     * @param membership told of backends a discovered upstream gains and loses
     * @param fleet      the proxy's connection to Redis, which a registry in Redis is read through; {@code null}: none
     */
    public Upstream(String name, UpstreamConfig config, String at, long tlsHandshakeMs, PoolConfig topPool,
                    EventLoopGroup loops, Class<? extends Channel> channelClass, Function<BackendConfig, Backend> kept,
                    List<BackendConfig> discovered, Membership membership, Fleet fleet) {
        this.name = name;
        this.config = config;
        this.membership = membership;
        boolean discovery = config.discovery() != null;
        this.group = new BackendGroup(name, at, discovery ? discovered : config.backends(), tlsHandshakeMs,
                config.panicThresholdPercent(), config.pool() == null ? null : config.pool().within(topPool), kept,
                discovery);
        this.source = discovery && loops != null ? BackendSource.of(name, config.discovery(), loops, channelClass, fleet) : null;
        this.startingUp = kept == null;
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

    /**
     * Ejects {@code backend} for {@code durationMs} because member {@code from} of the fleet did:
     * within {@code maxEjectionPercent} when passive health is on here, else as told. Returns the
     * key to {@link Backend#uneject} (the caller times it), or 0 when it was not ejected.
     */
    long ejectFromFleet(Backend backend, long durationMs, String from, String reason) {
        return outliers != null ? outliers.ejectFromFleet(backend, durationMs, from, reason)
                : backend.ejectFromFleet(durationMs, from, reason);
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

    /** Starts the probes, the first probe of every backend at once, and the discovery. */
    public void start() {
        if (healthChecker != null) {
            healthChecker.start();
        }
        if (source != null) {
            source.start(this::discovered);
        }
    }

    /**
     * Waits, from a thread that is not an event loop, for its discovery's first answer (or
     * failure); true at once for listed backends.
     */
    public boolean awaitDiscovery(long timeoutMs) throws InterruptedException {
        return source == null || source.awaitFirstAnswer(timeoutMs);
    }

    /** What its discovery says of itself; {@code null} for listed backends (or when only checking a configuration). */
    public BackendSource.Status discoveryStatus() {
        return source == null ? null : source.status();
    }

    /**
     * Holds back ({@code true}) or lets through the answers of its discovery: held while a reload
     * reads its backends to carry them over, so none leaves in between. An answer held back is
     * dropped; the next one brings the set again.
     */
    public synchronized void holdDiscovery(boolean hold) {
        held = hold;
    }

    /** One answer of its source: the backends are now these. */
    private synchronized void discovered(List<BackendSource.Endpoint> endpoints) {
        if (closed || held) {
            return;
        }
        List<BackendConfig> configs = new ArrayList<>(endpoints.size());
        for (BackendSource.Endpoint e : endpoints) {
            try {
                configs.add(new BackendConfig(UpstreamConfig.discoveredId(name, e.authority()),
                        "http://" + e.authority(), null, null, e.weight()));
            } catch (ConfigException ex) {
                log.warn("upstream {}: discovered endpoint {} left out: {}", name, e.authority(), ex.getMessage());
            }
        }
        BackendGroup.Change change = group.update(configs, b -> {
            membership.joining(this, b);
            if (healthChecker != null) {
                healthChecker.add(b);
            }
        }, !startingUp);
        startingUp = false;
        if (change.isEmpty()) {
            return;
        }
        for (Backend b : change.removed()) {
            if (healthChecker != null) {
                healthChecker.remove(b);
            }
        }
        log.info("upstream {}: discovery: {}{}{} backends now", name,
                change.added().isEmpty() ? "" : "joined " + ids(change.added()) + "; ",
                change.removed().isEmpty() ? "" : "left, draining " + ids(change.removed()) + "; ", group.all().size());
        if (!change.removed().isEmpty()) {
            membership.left(this, change.removed());
        }
    }

    private static String ids(List<Backend> backends) {
        return backends.stream().map(Backend::id).toList().toString();
    }

    @Override
    public void close() {
        synchronized (this) {
            closed = true;
        }
        if (source != null) {
            source.close();
        }
        if (healthChecker != null) {
            healthChecker.close();
        }
    }
}
