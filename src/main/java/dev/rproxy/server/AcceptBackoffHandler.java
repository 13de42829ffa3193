package dev.rproxy.server;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On the listening channel, in front of Netty's acceptor: when {@code accept()} fails (EMFILE or
 * ENFILE: no descriptor left for the new socket; ENOBUFS, ENOMEM) accepting pauses, then resumes
 * on its own. The pause starts at {@value #MIN_PAUSE_MS} ms and doubles up to {@value
 * #MAX_PAUSE_MS} ms while failures go on; an accepted connection resets it. Meanwhile new
 * connections wait in the kernel's backlog.
 *
 * <p>Why pause at all: with connections waiting in the backlog the listening socket stays
 * readable, so both transports (NIO, and epoll) would call the failing {@code accept()} again at
 * once, in a loop that takes a core and starves the very connections whose close would free a
 * descriptor. Why here and not in Netty's {@code ServerBootstrapAcceptor} (which pauses 1 s): it
 * passes every failure on to the end of the pipeline, where each is logged as a warning with a
 * stack trace. This handler consumes the failure, so the acceptor never sees it; it logs the first
 * one and then at most one summary per {@value #SUMMARY_INTERVAL_MS} ms.
 *
 * <p>Threading: all state is confined to the listening channel's event loop.
 */
final class AcceptBackoffHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(AcceptBackoffHandler.class);
    static final long MIN_PAUSE_MS = 50;
    static final long MAX_PAUSE_MS = 1000;
    static final long SUMMARY_INTERVAL_MS = 10_000;

    private final String context;
    private final ThrottledWarning warning = new ThrottledWarning(log, SUMMARY_INTERVAL_MS,
            "accept failed {} more times in the last {} s; accepting resumes on its own");
    private long pauseMs = MIN_PAUSE_MS;
    private ScheduledFuture<?> resume;

    /** @param context what the first warning adds about descriptors, e.g. the limit and the cap */
    AcceptBackoffHandler(String context) {
        this.context = context;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        pauseMs = MIN_PAUSE_MS; // an accepted connection: descriptors are to be had again
        ctx.fireChannelRead(msg);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (warning.occurred(ctx.executor())) {
            log.warn("[{}] accept failed: {} ({}); pausing accepts for {} ms, then up to {} ms at a time until one succeeds",
                    ctx.channel().id(), cause.getMessage(), context, pauseMs, MAX_PAUSE_MS);
        }
        if (resume != null || !ctx.channel().isOpen()) {
            return; // already paused (a failure reported after the same read burst)
        }
        ctx.channel().config().setAutoRead(false);
        resume = ctx.executor().schedule(() -> {
            resume = null;
            ctx.channel().config().setAutoRead(true); // reads, i.e. accepts, at once if connections wait
        }, pauseMs, TimeUnit.MILLISECONDS);
        pauseMs = Math.min(MAX_PAUSE_MS, pauseMs * 2);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (resume != null) {
            resume.cancel(false);
            resume = null;
        }
        ctx.fireChannelInactive();
    }
}
