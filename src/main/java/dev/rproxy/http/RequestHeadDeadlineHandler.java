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

    private final long timeoutMs;
    private ChannelHandlerContext ctx;
    private boolean awaitingHead = true;
    private ScheduledFuture<?> deadline;

    public RequestHeadDeadlineHandler(long timeoutMs) {
        this.timeoutMs = timeoutMs;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (awaitingHead && deadline == null && msg instanceof ByteBuf buf && buf.isReadable()) {
            deadline = ctx.executor().schedule(this::expire, timeoutMs, TimeUnit.MILLISECONDS);
        }
        ctx.fireChannelRead(msg);
    }

    private void expire() {
        deadline = null;
        if (awaitingHead && ctx.channel().isActive()) {
            ctx.fireUserEventTriggered(TIMED_OUT);
        }
    }

    /** A request head was decoded. */
    void headReceived() {
        awaitingHead = false;
        cancel();
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
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }
}
