package dev.rproxy.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection whose peer may still be sending (a request body the proxy did not read):
 * the sending side is shut down first, so the client sees the end of the response, then whatever
 * still arrives is read and dropped until the client closes or {@code timeoutMs} passes.
 *
 * <p>Closing at once with unread bytes in the receive buffer makes the kernel send a reset, which can
 * destroy the response in flight before the client reads it (the reason for nginx's lingering
 * close). Installed first in the pipeline, so no decoder sees the dropped bytes.
 */
final class LingeringCloseHandler extends ChannelInboundHandlerAdapter {
    private final long timeoutMs;

    LingeringCloseHandler(long timeoutMs) {
        this.timeoutMs = timeoutMs;
    }

    static void closeGracefully(ChannelHandlerContext ctx, long timeoutMs) {
        if (ctx.pipeline().get(LingeringCloseHandler.class) != null) {
            return; // already closing this way
        }
        if (!(ctx.channel() instanceof DuplexChannel duplex) || !ctx.channel().isActive() || duplex.isInputShutdown()) {
            ctx.close(); // or nothing is left to drain: the client's input already ended
            return;
        }
        SslHandler tls = ctx.pipeline().get(SslHandler.class);
        ctx.pipeline().addFirst("lingeringClose", new LingeringCloseHandler(timeoutMs));
        if (tls == null) {
            shutdownOutput(ctx, duplex);
        } else {
            // TLS: close_notify first (RFC 8446 section 6.1), then the TCP half-close. What arrives
            // from now on is dropped before it reaches the SslHandler.
            tls.closeOutbound().addListener(f -> shutdownOutput(ctx, duplex));
        }
    }

    private static void shutdownOutput(ChannelHandlerContext ctx, DuplexChannel duplex) {
        duplex.shutdownOutput().addListener(f -> {
            if (!f.isSuccess()) {
                ctx.close();
            }
        });
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        ctx.executor().schedule(() -> ctx.close(), timeoutMs, TimeUnit.MILLISECONDS);
        ctx.channel().config().setAutoRead(true);
        ctx.read();
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        ReferenceCountUtil.release(msg);
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        // swallowed: nothing behind this handler acts on input any more
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            ctx.close();
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
