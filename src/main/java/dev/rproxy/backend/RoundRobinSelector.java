package dev.rproxy.backend;

import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Round-robin over the currently healthy backends: one shared counter, so requests from all event
 * loops together are spread evenly; one atomic increment per request and no lock.
 */
public final class RoundRobinSelector implements BackendSelector {
    private final BackendGroup group;
    private final AtomicInteger next = new AtomicInteger();

    public RoundRobinSelector(BackendGroup group) {
        this.group = group;
    }

    @Override
    public Backend select(HttpRequest request, SocketAddress client) {
        Backend[] healthy = group.healthySnapshot();
        if (healthy.length == 0) {
            return null;
        }
        return healthy[Math.floorMod(next.getAndIncrement(), healthy.length)];
    }
}
