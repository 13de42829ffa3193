package dev.rproxy.backend;

import dev.rproxy.config.DiscoveryConfig;
import dev.rproxy.fleet.Fleet;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import java.util.List;

/**
 * Where an upstream's backends come from when the configuration does not list them: DNS
 * ({@link DnsBackendSource}) or a registry in Redis ({@link RedisBackendSource}). A source knows nothing of
 * backends' state, pools or balancers; it only says, now and then, which endpoints there are. The
 * upstream turns each endpoint into a {@link Backend} (a known one is kept, the same object), probes
 * new ones, and lets the ones that left drain, so a new source is this interface and a line in
 * {@link #of}, and no balancer changes.
 *
 * <p>Contract: after {@link #start}, the listener gets the whole set each time the source has an
 * answer (the same set again is fine: the upstream compares), never a partial one, and never after
 * {@link #close} returned. A failure to learn the set is not an empty set: the source keeps quiet,
 * and the upstream keeps the set it has. Calls come from one thread at a time.
 */
public interface BackendSource extends AutoCloseable {

    /** One backend as a source sees it: an address (an IP literal or a host name), a port, a weight. */
    record Endpoint(String host, int port, int weight) {
        public Endpoint {
            if (host == null || host.isEmpty() || port < 1 || port > 65535 || weight < 1) {
                throw new IllegalArgumentException("endpoint " + host + ":" + port + " weight " + weight);
            }
        }

        /** {@code host:port}, IPv6 in brackets. */
        public String authority() {
            return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
        }
    }

    /** Told the whole set of endpoints each time the source has learnt it. */
    @FunctionalInterface
    interface Listener {
        void endpoints(List<Endpoint> endpoints);
    }

    /**
     * What a source says of itself, for the admin API.
     *
     * @param state  {@code starting}, {@code answering}, {@code failing} (the set stays as it was),
     *               {@code no_records} (an empty answer not yet believed) or {@code empty}
     * @param detail a few words on why: how many endpoints, the failure
     */
    record Status(String state, String detail) {}

    /** Starts learning the set; the first answer comes as soon as the source has one. */
    void start(Listener listener);

    /**
     * Waits, from a thread that is not an event loop, for the first answer or the first failure;
     * false when neither came in time.
     */
    boolean awaitFirstAnswer(long timeoutMs) throws InterruptedException;

    /** Its state now; from any thread. */
    Status status();

    /** Stops: no answer is delivered after this returns. */
    @Override
    void close();

    /**
     * The source {@code config} describes for the upstream {@code name}, running on {@code loops}
     * (whose TCP channels are {@code socketClass}): DNS, or a registry in Redis read through {@code
     * fleet} (which the configuration guarantees for one).
     */
    static BackendSource of(String name, DiscoveryConfig config, EventLoopGroup loops,
                            Class<? extends Channel> socketClass, Fleet fleet) {
        if (config.fromRedis()) {
            if (fleet == null) {
                throw new IllegalStateException("upstream " + name + ": a registry in Redis needs the redis section");
            }
            return new RedisBackendSource(name, config, fleet, loops);
        }
        return new DnsBackendSource(name, config, loops, socketClass);
    }
}
