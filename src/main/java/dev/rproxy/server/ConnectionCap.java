package dev.rproxy.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On the listening channel, in front of Netty's acceptor: at most {@code max} client connections
 * are open at once; one accepted beyond that is closed at once, on the accepting thread, before it
 * is handed to an I/O thread. Closing it there, not in the child's initializer, matters under a
 * flood: the acceptor takes connections from the backlog faster than busy I/O threads could close
 * them, and each one waiting for its close would hold a descriptor out of the reserve.
 *
 * <p>The count goes up as a connection is handed on and down when its channel's close completes,
 * on its I/O thread; it is exact, unlike the size of a group that I/O threads fill after
 * registration. The refusals are logged once, then summarized at most once per {@value
 * #SUMMARY_INTERVAL_MS} ms.
 */
final class ConnectionCap extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ConnectionCap.class);
    static final long SUMMARY_INTERVAL_MS = 10_000;

    private final int max;
    private final AtomicInteger open = new AtomicInteger();
    private final ChannelFutureListener onClose = f -> open.decrementAndGet();
    private final ThrottledWarning refusals = new ThrottledWarning(log, SUMMARY_INTERVAL_MS,
            "connection limit reached: {} more new connections closed in the last {} s");

    ConnectionCap(int max) {
        this.max = max;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Channel child = (Channel) msg;
        if (open.get() >= max) {
            if (refusals.occurred(ctx.executor())) {
                log.warn("[{}] connection limit {} reached, closing new connections (logged again at most every {} s)",
                        child.id(), max, SUMMARY_INTERVAL_MS / 1000);
            }
            // Not registered with any loop yet: closed directly, which an ordinary close() would refuse.
            child.unsafe().closeForcibly();
            return;
        }
        open.incrementAndGet();
        child.closeFuture().addListener(onClose);
        ctx.fireChannelRead(child);
    }
}
