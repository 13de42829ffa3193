package dev.rproxy.server;

import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.ApplicationProtocolNegotiationHandler;
import java.util.function.Consumer;

/**
 * After the TLS handshake of a listener that offers {@code h2}: the protocol ALPN chose sets up the
 * rest of the pipeline, HTTP/2 for {@code h2}, HTTP/1.1 otherwise (also when the client sent no
 * ALPN). A failed handshake closes the connection (close_notify or an alert, as the engine decides).
 */
final class ProtocolByAlpn extends ApplicationProtocolNegotiationHandler {
    private final Consumer<ChannelPipeline> http1;
    private final Consumer<ChannelPipeline> http2;

    ProtocolByAlpn(Consumer<ChannelPipeline> http1, Consumer<ChannelPipeline> http2) {
        super(ApplicationProtocolNames.HTTP_1_1);
        this.http1 = http1;
        this.http2 = http2;
    }

    @Override
    protected void configurePipeline(ChannelHandlerContext ctx, String protocol) {
        if (ApplicationProtocolNames.HTTP_2.equals(protocol)) {
            http2.accept(ctx.pipeline());
        } else {
            http1.accept(ctx.pipeline());
        }
    }

    @Override
    protected void handshakeFailure(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
