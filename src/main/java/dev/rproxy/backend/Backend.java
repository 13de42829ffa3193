package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.TimeoutsConfig;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runtime state of one backend: health with rise/fall thresholds and the number of exchanges in
 * flight.
 *
 * <p>Thread-safety: health results arrive from the health checker and, as passive checks, from
 * every event loop; they are rare next to requests, so the small state machine is guarded by the
 * object's monitor. Readers on the request path only read the volatile {@link #healthy} flag
 * (through {@link BackendGroup}'s snapshot).
 */
public final class Backend {
    private static final Logger log = LoggerFactory.getLogger(Backend.class);

    private final BackendConfig config;
    private final BackendTls tls;
    /** Read on every exchange: kept here rather than compared from the configuration's string. */
    private final boolean http2;
    private final int weight;
    private final AtomicInteger activeConnections = new AtomicInteger();
    private volatile boolean healthy = true;
    private volatile HealthListener listener = (b, h) -> {};

    // Guarded by this.
    private boolean probedOnce;
    private int consecutiveFailures;
    private int consecutiveSuccesses;

    /** Told of every change of a backend's health; called outside the backend's monitor. */
    @FunctionalInterface
    public interface HealthListener {
        void healthChanged(Backend backend, boolean healthy);
    }

    public Backend(BackendConfig config) {
        this(config, BackendTls.of(config, TimeoutsConfig.DEFAULT.connectMs()));
    }

    /** @param tls its TLS, for an https backend; {@code null} for http */
    public Backend(BackendConfig config, BackendTls tls) {
        this.config = config;
        this.tls = tls;
        this.http2 = config.http2();
        this.weight = config.weight();
    }

    /** TLS to this backend, or {@code null} for plaintext. */
    public BackendTls tls() {
        return tls;
    }

    public String id() {
        return config.id();
    }

    public String url() {
        return config.url();
    }

    /** Its share of the requests relative to the other backends' (1 unless configured). */
    public int weight() {
        return weight;
    }

    /** Whether the proxy speaks HTTP/2 to it ({@code h2} or {@code h2c}): its connections carry streams. */
    public boolean http2() {
        return http2;
    }

    public String host() {
        return config.host();
    }

    public int port() {
        return config.port();
    }

    /** {@code host:port} as a Host header value (IPv6 in brackets). */
    public String authority() {
        String host = host();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port();
    }

    public boolean isHealthy() {
        return healthy;
    }

    public int activeConnections() {
        return activeConnections.get();
    }

    public void exchangeStarted() {
        activeConnections.incrementAndGet();
    }

    public void exchangeEnded() {
        activeConnections.decrementAndGet();
    }

    void setListener(HealthListener listener) {
        this.listener = listener;
    }

    /**
     * Records one successful probe. The first result decides the state at once, so a backend is
     * balanced by its real health from start-up; later ones need {@code rise} in a row.
     */
    public void recordSuccess(int rise) {
        boolean changed;
        synchronized (this) {
            consecutiveFailures = 0;
            consecutiveSuccesses++;
            boolean first = !probedOnce;
            probedOnce = true;
            changed = !healthy && (first || consecutiveSuccesses >= rise);
            if (changed) {
                healthy = true;
            }
        }
        if (changed) {
            log.info("backend {} ({}) is healthy", id(), url());
            listener.healthChanged(this, true);
        }
    }

    /**
     * Records one failed probe, or a failed connection on real traffic (passive check). After
     * {@code fall} failures in a row (or at the very first probe) the backend is marked down.
     */
    public void recordFailure(int fall, String reason) {
        boolean changed;
        synchronized (this) {
            consecutiveSuccesses = 0;
            consecutiveFailures++;
            boolean first = !probedOnce;
            probedOnce = true;
            changed = healthy && (first || consecutiveFailures >= fall);
            if (changed) {
                healthy = false;
            }
        }
        if (changed) {
            log.warn("backend {} ({}) is unhealthy: {}", id(), url(), reason);
            listener.healthChanged(this, false);
        }
    }

    @Override
    public String toString() {
        return id() + "(" + url() + ")";
    }
}
