package dev.rproxy.server;

import dev.rproxy.admin.ProxyMetrics;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;

/** Counts the outcome of a client connection's TLS handshake, then leaves the pipeline. */
final class HandshakeCounter extends ChannelInboundHandlerAdapter {
    private final ProxyMetrics metrics;

    HandshakeCounter(ProxyMetrics metrics) {
        this.metrics = metrics;
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
        if (evt instanceof SslHandshakeCompletionEvent handshake) {
            metrics.tlsHandshake(handshake.isSuccess());
            ctx.pipeline().remove(this);
        }
        ctx.fireUserEventTriggered(evt);
    }
}
