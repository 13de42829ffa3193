package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
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

    public BackendGroup(List<BackendConfig> configs) {
        List<Backend> list = new ArrayList<>(configs.size());
        for (BackendConfig c : configs) {
            list.add(new Backend(c));
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
