package dev.rproxy.server;

import io.netty.channel.Channel;
import io.netty.util.concurrent.EventExecutor;
import java.net.InetAddress;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code limits.maxConnectionsPerClient}: the open client connections of each address, across the
 * listeners. A connection is counted against its peer when it is accepted ({@link ConnectionCap}),
 * or, on a {@code proxyProtocol} listener, against the address its PROXY header names once that is
 * read ({@link ProxyHeaderHandler}): there the socket's peer is the load balancer, which carries
 * every client's connections. Refusals are logged once, then summarized at most once per {@value
 * ConnectionCap#SUMMARY_INTERVAL_MS} ms.
 *
 * <p>Thread-safe: counted on the accepting thread or on a connection's I/O thread, uncounted on
 * the I/O thread when its channel closes.
 */
final class ClientConnections {
    private static final Logger log = LoggerFactory.getLogger(ClientConnections.class);

    private final int max;
    private final ConcurrentHashMap<InetAddress, Integer> open = new ConcurrentHashMap<>();
    private final ThrottledWarning refusals = new ThrottledWarning(log, ConnectionCap.SUMMARY_INTERVAL_MS,
            "per-client connection limit reached: {} more new connections closed in the last {} s");

    /** @param max open connections from one client address, at least 1 */
    ClientConnections(int max) {
        this.max = max;
    }

    /**
     * Counts {@code child} against {@code address} until it closes, unless the address is at its
     * limit: then returns {@code false} (logged; the caller closes {@code child}). {@code timers}
     * runs the refusals' summary.
     */
    boolean admit(Channel child, InetAddress address, EventExecutor timers) {
        boolean[] admitted = {false};
        open.compute(address, (a, n) -> {
            int count = n == null ? 0 : n;
            if (count >= max) {
                return n;
            }
            admitted[0] = true;
            return count + 1;
        });
        if (admitted[0]) {
            child.closeFuture().addListener(f -> open.computeIfPresent(address, (a, n) -> n > 1 ? n - 1 : null));
        } else if (refusals.occurred(timers)) {
            log.warn("[{}] {} has {} connections open (limits.maxConnectionsPerClient), closing its new ones"
                    + " (logged again at most every {} s)", child.id(), address.getHostAddress(), max,
                    ConnectionCap.SUMMARY_INTERVAL_MS / 1000);
        }
        return admitted[0];
    }
}
