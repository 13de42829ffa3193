package dev.rproxy.server;

import dev.rproxy.edge.ClientIdentity;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.haproxy.HAProxyCommand;
import io.netty.handler.codec.haproxy.HAProxyMessage;
import io.netty.handler.codec.haproxy.HAProxyMessageDecoder;
import io.netty.handler.codec.haproxy.HAProxyProxiedProtocol;
import io.netty.util.NetUtil;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * On a {@code proxyProtocol} listener, right behind Netty's {@link HAProxyMessageDecoder} and in
 * front of TLS and HTTP: takes the connection's PROXY header (v1 text or v2 binary, as HAProxy and
 * cloud load balancers send it) and records its source address as the connection's peer ({@link
 * ClientIdentity#PROXIED_PEER}), which client identity, the per-client connection limit and the
 * access log then use instead of the load balancer's. A {@code LOCAL} header (v2: the balancer's
 * own health check) or one naming no TCP addresses ({@code UNKNOWN}) leaves the socket's peer.
 *
 * <p>Then it removes itself; the decoder removes itself once it has decoded the header and hands
 * the bytes read behind it (a TLS ClientHello, an HTTP/2 preface, a request) to what follows.
 *
 * <p>Until then nothing valid has been said, so nothing is answered: bytes that are not a PROXY
 * header (the decoder closes the connection and reports it here), a header not complete within
 * {@code timeoutMs} (the request-head deadline), or input that ends first close the connection
 * without a response. The decoder keeps at most {@value #MAX_TLV_BYTES} bytes of v2 TLVs.
 *
 * <p>Ownership: the decoded {@link HAProxyMessage} is reference counted (its TLVs hold buffers) and
 * is released here, whatever happens.
 */
final class ProxyHeaderHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(ProxyHeaderHandler.class);

    /** The most v2 type-length-value bytes taken after the addresses; a longer header is refused. */
    static final int MAX_TLV_BYTES = 4096;

    private final long timeoutMs;
    /** {@code null}: no per-client connection limit. */
    private final ClientConnections perClient;
    private ScheduledFuture<?> deadline;
    /** Over the per-client limit: closing, and whatever follows the header is dropped. */
    private boolean refused;
    private boolean failed;

    /**
     * @param timeoutMs the header must be complete this long after the connection is accepted
     * @param perClient the per-client connection limit, counted against the header's source
     */
    ProxyHeaderHandler(long timeoutMs, ClientConnections perClient) {
        this.timeoutMs = timeoutMs;
        this.perClient = perClient;
    }

    /** The decoder that goes in front of this handler. */
    static HAProxyMessageDecoder decoder() {
        return new HAProxyMessageDecoder(MAX_TLV_BYTES);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        deadline = ctx.executor().schedule(() -> {
            log.debug("[{}] no complete PROXY header within {} ms, closing", ctx.channel().id(), timeoutMs);
            ctx.close();
        }, timeoutMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        deadline.cancel(false);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (refused || !(msg instanceof HAProxyMessage header)) {
            ReferenceCountUtil.release(msg); // behind a refused header, or before any: never HTTP to answer
            return;
        }
        InetSocketAddress source;
        try {
            source = source(header);
        } finally {
            header.release();
        }
        if (source != null) {
            ctx.channel().attr(ClientIdentity.PROXIED_PEER).set(source);
        }
        if (perClient != null && ClientIdentity.peer(ctx.channel()) instanceof InetSocketAddress peer
                && !perClient.admit(ctx.channel(), peer.getAddress(), ctx.executor())) {
            refused = true;
            deadline.cancel(false);
            ctx.close();
            return;
        }
        ctx.pipeline().remove(this);
    }

    /** The client address the header names; {@code null} for none (LOCAL, UNKNOWN, not TCP). */
    private static InetSocketAddress source(HAProxyMessage header) {
        if (header.command() != HAProxyCommand.PROXY) {
            return null;
        }
        HAProxyProxiedProtocol protocol = header.proxiedProtocol();
        if (protocol != HAProxyProxiedProtocol.TCP4 && protocol != HAProxyProxiedProtocol.TCP6) {
            return null;
        }
        // The decoder has checked the address is a literal of the family: no name is looked up.
        InetAddress address = NetUtil.createInetAddressFromIpAddressString(header.sourceAddress());
        return address == null ? null : new InetSocketAddress(address, header.sourcePort());
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            ctx.close(); // the header can no longer be completed
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Not a PROXY header (the decoder has closed the connection already) or a failure before one
        // was complete: the handlers behind have nothing to answer. The decoder may report the
        // bytes it still holds once more as the connection closes: said once.
        if (!failed) {
            failed = true;
            log.debug("[{}] invalid PROXY protocol header, closing: {}", ctx.channel().id(), cause.toString());
        }
        ctx.close();
    }
}
