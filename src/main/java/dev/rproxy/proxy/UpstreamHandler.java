package dev.rproxy.proxy;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The last handler of an upstream (pooled) channel: hands what the backend sends to the exchange
 * that holds the channel, and keeps an idle pooled channel honest.
 *
 * <p>Lives as long as the connection, across many exchanges; all methods run on the channel's event
 * loop, which is also the loop of the attached exchange's client channel.
 */
public final class UpstreamHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(UpstreamHandler.class);

    private Exchange exchange;
    private int exchangesCompleted;

    void attach(Exchange exchange) {
        this.exchange = exchange;
    }

    /** Detaches the current exchange; {@code completed} counts it towards reuse. */
    void detach(boolean completed) {
        exchange = null;
        if (completed) {
            exchangesCompleted++;
        }
    }

    /** Whether this connection has already carried a complete exchange (it comes from the pool). */
    boolean isReused() {
        return exchangesCompleted > 0;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        Exchange e = exchange;
        if (e != null) {
            e.onUpstreamRead(msg);
            return;
        }
        // Bytes on an idle pooled connection belong to no request: the connection can no longer be
        // trusted to frame the next response.
        ReferenceCountUtil.release(msg);
        log.debug("[{}] unsolicited data from backend on an idle connection, closing", ctx.channel().id());
        ctx.close();
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        Exchange e = exchange;
        if (e != null) {
            e.onUpstreamReadComplete();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        Exchange e = exchange;
        if (e != null) {
            e.onUpstreamWritabilityChanged(ctx.channel().isWritable());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Exchange e = exchange;
        if (e != null) {
            e.onUpstreamFailed(null);
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Exchange e = exchange;
        if (e != null) {
            e.onUpstreamFailed(cause);
        } else {
            log.debug("[{}] idle upstream connection failed: {}", ctx.channel().id(), cause.toString());
        }
        ctx.close();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            // Only a connection resting in the pool is closed for idleness; an exchange in progress
            // has its own response deadline.
            if (exchange == null) {
                ctx.close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }
}
