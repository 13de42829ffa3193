package dev.rproxy.server;

import dev.rproxy.pool.ConnectionLedger;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On the listening channel, in front of Netty's acceptor: at most {@code max} client connections
 * are open at once. At the cap, as nginx does when it runs out of connections, the connections
 * that have been idle longest are closed to make room, and new ones are taken meanwhile, up to a
 * small headroom; beyond that (every connection busy) a new one is closed at once, on the
 * accepting thread, before it is handed to an I/O thread. Closing it there, not in the child's initializer, matters under a
 * flood: the acceptor takes connections from the backlog faster than busy I/O threads could close
 * them, and each one waiting for its close would hold a descriptor out of the reserve.
 *
 * <p>The count goes up as a connection is handed on and down when its channel's close completes,
 * on its I/O thread; it is exact, unlike the size of a group that I/O threads fill after
 * registration. The refusals are logged once, then summarized at most once per {@value
 * #SUMMARY_INTERVAL_MS} ms.
 *
 * <p>The per-client limit is checked here too, against the socket's peer, except on a {@code
 * proxyProtocol} listener, whose peer is a load balancer: there the PROXY header's source is
 * counted once it is read ({@link ProxyHeaderHandler}).
 */
final class ConnectionCap extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConnectionCap.class);
    static final long SUMMARY_INTERVAL_MS = 10_000;

    /** Connections taken beyond {@code max} while idle ones are closed to make room: at most. */
    static final int MAX_HEADROOM = 32;
    private static final long DRAIN_INTERVAL_NANOS = 10_000_000L;

    private final int max;
    /** {@code null}: no per-client limit at accept. */
    private final ClientConnections perClient;
    private final IntConsumer drainIdle;
    private boolean recheckScheduled;
    /** A sixteenth of the smaller limit, 1 to {@link #MAX_HEADROOM}. */
    private final int headroom;
    /** Confined to the accepting thread. */
    private long lastDrainNanos = System.nanoTime() - DRAIN_INTERVAL_NANOS;
    private final ConnectionLedger ledger;
    private final ChannelFutureListener onClose;
    private final ThrottledWarning refusals = new ThrottledWarning(log, SUMMARY_INTERVAL_MS,
            "connection limit reached: {} more new connections closed in the last {} s");

    /**
     * @param max          open client connections in all
     * @param ledger       the connections open, client and backend, against the descriptors
     * @param perClient    open connections from one client address ({@code
     *                     limits.maxConnectionsPerClient}), counted against the socket's peer;
     *                     {@code null}: not here
     * @param drainIdle    closes up to that many of the connections idle longest, each on its own
     *                     loop; asked at most every 10 ms while the count is at {@code max}
     */
    ConnectionCap(int max, ConnectionLedger ledger, ClientConnections perClient, IntConsumer drainIdle) {
        this.max = max;
        this.ledger = ledger;
        this.onClose = f -> ledger.clientClosed();
        this.perClient = perClient;
        this.drainIdle = drainIdle;
        this.headroom = Math.max(1, Math.min(MAX_HEADROOM, Math.min(max, ledger.budget()) / 16));
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Channel child = (Channel) msg;
        int excess = excessWith(1);
        if (excess > 0 && excess <= headroom) {
            // As nginx does when it runs out of connections: the idle keep-alive connections that
            // have waited longest are closed to make room, and this one is taken meanwhile, out of
            // a headroom the descriptor reserve covers. An idle client loses only a connection it
            // can open again.
            requestDrain(ctx, excess);
        } else if (excess > 0) {
            if (refusals.occurred(ctx.executor())) {
                log.warn("[{}] connection limit {} reached, closing new connections (logged again at most every {} s)",
                        child.id(), max, SUMMARY_INTERVAL_MS / 1000);
            }
            // Not registered with any loop yet: closed directly, which an ordinary close() would refuse.
            child.unsafe().closeForcibly();
            return;
        }
        if (perClient != null && child.remoteAddress() instanceof InetSocketAddress remote
                && !perClient.admit(child, remote.getAddress(), ctx.executor())) {
            child.unsafe().closeForcibly();
            return;
        }
        ledger.clientOpened();
        child.closeFuture().addListener(onClose);
        ctx.fireChannelRead(child);
    }

    /**
     * Asks for {@code excess} idle connections and a headroom's worth more to be closed, at most
     * every 10 ms, and for a look 50 ms later that closes what is still over the cap (arrivals
     * after the last drain of a burst), so the headroom is given back when the burst ends.
     * Accepting thread only.
     */
    private void requestDrain(ChannelHandlerContext ctx, int excess) {
        long t = System.nanoTime();
        if (t - lastDrainNanos >= DRAIN_INTERVAL_NANOS) {
            lastDrainNanos = t;
            drainIdle.accept(excess + headroom);
        }
        if (!recheckScheduled) {
            recheckScheduled = true;
            ctx.executor().schedule(() -> {
                recheckScheduled = false;
                int over = excessWith(0);
                if (over > 0) {
                    lastDrainNanos = System.nanoTime();
                    drainIdle.accept(over);
                }
            }, 50, TimeUnit.MILLISECONDS);
        }
    }

    /**
     * How far over its limits the proxy is with {@code more} clients: over the client cap, or over
     * the descriptors for connections of both kinds; at most 0 when there is room.
     */
    private int excessWith(int more) {
        return Math.max(ledger.clients() + more - max, ledger.total() + more - ledger.budget());
    }
}
