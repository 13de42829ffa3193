package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.config.UpstreamConfig;
import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;

/**
 * Chooses the backend for one request among its upstream's {@link BackendGroup#routableSnapshot()
 * routable} ones. Called from every event loop at once: a pick takes no lock and allocates nothing
 * (a consistent-hash ring is rebuilt, once, only when the set of backends changes).
 */
public interface Balancer {

    /** The backend for this request, or {@code null} when none is routable. */
    Backend pick(HttpRequest request, SocketAddress client);

    /**
     * A backend not among the first {@code n} of {@code tried}, for a retry; {@code null} when
     * there is none. Asks {@link #pick} a few times and then takes the first routable one not
     * tried, so a strategy that keeps choosing a tried one (a hash) still finds another.
     */
    default Backend pickAnother(HttpRequest request, SocketAddress client, Backend[] tried, int n, BackendGroup group) {
        for (int attempt = 0; attempt < 4; attempt++) {
            Backend b = pick(request, client);
            if (b == null) {
                return null;
            }
            if (!contains(tried, n, b)) {
                return b;
            }
        }
        for (Backend b : group.routableSnapshot()) {
            if (!contains(tried, n, b)) {
                return b;
            }
        }
        return null;
    }

    private static boolean contains(Backend[] tried, int n, Backend b) {
        for (int i = 0; i < n; i++) {
            if (tried[i] == b) {
                return true;
            }
        }
        return false;
    }

    /** The balancer {@code config.balancer()} names, over {@code group}. */
    static Balancer of(UpstreamConfig config, BackendGroup group) {
        long slowStartNanos = config.slowStartMs() * 1_000_000L;
        return switch (config.balancer()) {
            case UpstreamConfig.LEAST_REQUEST -> new LeastRequestBalancer(group, slowStartNanos);
            case UpstreamConfig.CONSISTENT_HASH -> new ConsistentHashBalancer(group, HashKey.parse(config.hashKey()));
            case UpstreamConfig.RANDOM -> new RandomBalancer(group, slowStartNanos);
            default -> new RoundRobinBalancer(group, slowStartNanos);
        };
    }
}
