package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.TimeoutsConfig;
import java.util.ArrayList;
import java.util.List;

/**
 * The configured backends and a copy-on-write snapshot of the healthy ones.
 *
 * <p>The snapshot is rebuilt only when a backend changes health, so a selector reads one volatile
 * array per request and never filters or allocates.
 */
public final class BackendGroup {
    private final List<Backend> all;
    private volatile Backend[] healthy;

    /** Backends whose TLS handshakes (for https ones) get the default connect timeout. */
    public BackendGroup(List<BackendConfig> configs) {
        this(configs, TimeoutsConfig.DEFAULT.connectMs());
    }

    /**
     * @param tlsHandshakeMs how long the TLS handshake with an https backend may take
     * @throws ConfigException when the TLS files of a backend do not load (naming {@code backends[i]})
     */
    public BackendGroup(List<BackendConfig> configs, long tlsHandshakeMs) {
        List<Backend> list = new ArrayList<>(configs.size());
        for (int i = 0; i < configs.size(); i++) {
            BackendTls tls;
            try {
                tls = BackendTls.of(configs.get(i), tlsHandshakeMs);
            } catch (ConfigException e) {
                throw new ConfigException("backends[" + i + "]." + e.getMessage(), e);
            }
            list.add(new Backend(configs.get(i), tls));
        }
        this.all = List.copyOf(list);
        this.healthy = all.toArray(new Backend[0]);
        for (Backend b : all) {
            b.setListener((backend, up) -> rebuild());
        }
    }

    public List<Backend> all() {
        return all;
    }

    /** The healthy backends in configuration order; the array must not be modified. */
    Backend[] healthySnapshot() {
        return healthy;
    }

    /**
     * The backends requests are routed to now, in configuration order: one snapshot, so a report
     * built from it cannot disagree with itself while a backend changes health.
     */
    public List<Backend> routable() {
        return List.of(healthy);
    }

    private synchronized void rebuild() {
        List<Backend> up = new ArrayList<>(all.size());
        for (Backend b : all) {
            if (b.isHealthy()) {
                up.add(b);
            }
        }
        healthy = up.toArray(new Backend[0]);
    }
}
