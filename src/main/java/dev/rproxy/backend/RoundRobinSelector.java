package dev.rproxy.backend;

import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.concurrent.FastThreadLocal;
import java.net.SocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Round-robin over the currently healthy backends, by their weights.
 *
 * <p>Equal weights: one shared counter, so requests from all event loops together are spread
 * evenly; one atomic increment per request and no lock.
 *
 * <p>Different weights: nginx's smooth weighted round-robin. Each pick adds every backend's weight
 * to its current value, takes the backend with the largest, and subtracts the total of the weights
 * from it: weights 3 and 1 give a, a, b, a, and weights 5, 1, 1 give a, a, b, a, c, a, a, each
 * backend's share exact over a cycle and spread through it rather than in a burst. The current
 * values are kept per thread (each event loop has its own), so a pick takes no lock and allocates
 * nothing; they start again from zero when the set of healthy backends changes.
 */
public final class RoundRobinSelector implements BackendSelector {
    private final BackendGroup group;
    private final AtomicInteger next = new AtomicInteger();
    private final boolean weighted;
    private final FastThreadLocal<Smooth> smooth = new FastThreadLocal<>() {
        @Override
        protected Smooth initialValue() {
            return new Smooth();
        }
    };

    public RoundRobinSelector(BackendGroup group) {
        this.group = group;
        this.weighted = group.all().stream().mapToInt(Backend::weight).distinct().count() > 1;
    }

    @Override
    public Backend select(HttpRequest request, SocketAddress client) {
        Backend[] healthy = group.healthySnapshot();
        if (healthy.length == 0) {
            return null;
        }
        if (!weighted) {
            return healthy[Math.floorMod(next.getAndIncrement(), healthy.length)];
        }
        return smooth.get().pick(healthy);
    }

    /** One thread's current values, for the healthy set they were built for. */
    private static final class Smooth {
        private Backend[] set;
        private int[] current;

        Backend pick(Backend[] healthy) {
            if (healthy != set) {
                set = healthy;
                current = new int[healthy.length];
            }
            int total = 0;
            int best = 0;
            for (int i = 0; i < healthy.length; i++) {
                int weight = healthy[i].weight();
                current[i] += weight;
                total += weight;
                if (current[i] > current[best]) {
                    best = i;
                }
            }
            current[best] -= total;
            return healthy[best];
        }
    }
}
