package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;
import java.util.concurrent.ThreadLocalRandom;

/** A routable backend at random, each with a chance in proportion to its weight (of the moment, while warming up). */
public final class RandomBalancer implements Balancer {
    private final BackendGroup group;
    private final long slowStartNanos;

    public RandomBalancer(BackendGroup group, long slowStartNanos) {
        this.group = group;
        this.slowStartNanos = slowStartNanos;
    }

    @Override
    public Backend pick(HttpRequest request, SocketAddress client) {
        Backend[] routable = group.routableSnapshot();
        int n = routable.length;
        if (n <= 1) {
            return n == 0 ? null : routable[0];
        }
        long now = slowStartNanos > 0 ? System.nanoTime() : 0;
        double total = Weights.total(routable, now, slowStartNanos);
        return Weights.draw(routable, ThreadLocalRandom.current().nextDouble(total), now, slowStartNanos);
    }
}
