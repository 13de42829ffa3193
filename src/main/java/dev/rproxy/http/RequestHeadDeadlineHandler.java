package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The request-head deadline (nginx's {@code client_header_timeout}): from the first byte of a
 * request, its whole head must arrive within {@code timeoutMs}, or the client gets 408 and the
 * connection closes. A client dripping header bytes (slowloris) cannot hold a connection longer.
 *
 * <p>Sits before the HTTP codec so that it sees the first raw byte; {@link HeaderSanitizingHandler}
 * tells it when a head has been decoded and when the next one may start, and answers the 408 when
 * told {@link #TIMED_OUT}. Confined to the channel's event loop.
 */
public final class RequestHeadDeadlineHandler extends ChannelInboundHandlerAdapter {
    /** Fired inbound when the deadline passes. */
    public static final Object TIMED_OUT = new Object() {
        @Override
        public String toString() {
            return "RequestHeadDeadlineHandler.TIMED_OUT";
        }
    };

    private final long timeoutNanos;
    private ChannelHandlerContext ctx;
    private boolean awaitingHead = true;
    /** When the first byte of the head awaited arrived; 0: none has yet. */
    private long headStartNanos;
    /**
     * The connection's one timer: scheduled when a head starts and none is pending, and not
     * cancelled when the head arrives. When it fires for a head that has arrived meanwhile it
     * re-arms for the head in progress, if any, at that head's own deadline. A keep-alive
     * connection thus schedules at most one timer per {@code timeoutMs}, not one per request.
     */
    private ScheduledFuture<?> timer;

    public RequestHeadDeadlineHandler(long timeoutMs) {
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (awaitingHead && headStartNanos == 0 && msg instanceof ByteBuf buf && buf.isReadable()) {
            headStartNanos = System.nanoTime() | 1; // never 0
            if (timer == null) {
                timer = ctx.executor().schedule(this::expire, timeoutNanos, TimeUnit.NANOSECONDS);
            }
        }
        ctx.fireChannelRead(msg);
    }

    private void expire() {
        timer = null;
        if (!awaitingHead || headStartNanos == 0 || !ctx.channel().isActive()) {
            return; // no head in progress: the next one's first byte arms the timer again
        }
        long left = headStartNanos + timeoutNanos - System.nanoTime();
        if (left > 0) {
            timer = ctx.executor().schedule(this::expire, left, TimeUnit.NANOSECONDS);
        } else {
            ctx.fireUserEventTriggered(TIMED_OUT);
        }
    }

    /** A request head was decoded. */
    void headReceived() {
        awaitingHead = false;
        headStartNanos = 0;
    }

    /** The request is complete; bytes from now on belong to the next request's head. */
    void awaitNextHead() {
        awaitingHead = true;
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancel(); // the connection stopped being HTTP (a protocol switch)
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }

    private void cancel() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }
}
