package dev.rproxy.proxy;

import dev.rproxy.http.ErrorResponses.Failure;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetSocketAddress;
import java.net.SocketAddress;

/**
 * The client side of the relay: takes requests off one client connection, one at a time, and runs
 * each as an {@link Exchange} against a pooled upstream connection on the same event loop.
 *
 * <pre>
 *  client ──request──▶ [RelayHandler] ──write──▶ upstream channel ──▶ backend
 *     ▲    (autoRead off while the upstream channel is unwritable; on again in
 *     │     UpstreamHandler.channelWritabilityChanged)
 *     │
 *     └──write── [Exchange] ◀──response── [UpstreamHandler] ◀── backend
 *          (upstream autoRead off while this channel is unwritable; on again in
 *           channelWritabilityChanged below)
 * </pre>
 *
 * <p>Reads: client reads stop as soon as a request head arrives (its body is read only once there
 * is an upstream channel to send it to), stop again when the request is complete, and resume after
 * the last byte of the response has been written: pipelined requests wait in the socket and in
 * {@code FlowControlHandler}, and are answered in order.
 *
 * <p>Threading: every method runs on the channel's event loop.
 */
public final class RelayHandler extends ChannelInboundHandlerAdapter {
    private final RelayServices services;
    private final ChannelFutureListener nextRequest = this::onResponseWritten;
    private ChannelHandlerContext ctx;
    private Exchange current;
    private boolean draining;
    private boolean inputShutdown;
    private String clientAddress;

    public RelayHandler(RelayServices services) {
        this.services = services;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest request) {
            ctx.channel().config().setAutoRead(false);
            if (current != null) {
                // Cannot happen while reads pause between requests; refuse to guess.
                ReferenceCountUtil.release(msg);
                ctx.close();
                return;
            }
            Exchange exchange = new Exchange(this, ctx, services, request);
            current = exchange;
            if (draining) {
                exchange.fail(Failure.SHUTTING_DOWN, "draining");
            } else {
                exchange.start();
            }
        } else if (msg instanceof HttpContent content && current != null) {
            current.onRequestContent(content);
        } else {
            // Body of a request that was already answered (e.g. rejected): dropped.
            ReferenceCountUtil.release(msg);
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) {
        if (current != null) {
            current.onClientReadComplete();
        }
        ctx.fireChannelReadComplete();
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (current != null) {
            current.onClientWritabilityChanged(ctx.channel().isWritable());
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        Exchange exchange = current;
        current = null;
        if (exchange != null) {
            exchange.onClientClosed();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            // The client sent all it will send: finish the exchange in progress, then close.
            inputShutdown = true;
            if (current == null) {
                ctx.close();
            }
            return;
        }
        if (evt instanceof IdleStateEvent) {
            // Between requests the connection is simply idle; during an exchange only a client that
            // stopped reading is cut (a slow backend is the response deadline's business).
            if (current == null || !current.waitingOnBackend()) {
                ctx.close();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Resets and broken pipes from clients are routine; the exchange (if any) is cleaned up in
        // channelInactive.
        ctx.close();
    }

    /**
     * Stops taking new requests: an idle connection closes now, a busy one after its response.
     * Called on the channel's loop when the server shuts down.
     */
    public void drain() {
        draining = true;
        if (current == null) {
            ctx.close();
        }
    }

    /** Listener for the write of a response's last byte: the next request may be read now. */
    ChannelFutureListener nextRequestListener() {
        return nextRequest;
    }

    private void onResponseWritten(ChannelFuture written) {
        current = null;
        if (!written.isSuccess() || draining || inputShutdown) {
            ctx.close();
        } else if (ctx.channel().isActive()) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    /** The exchange ended and the connection will close; no further request is read. */
    void exchangeEnded(Exchange exchange) {
        if (current == exchange) {
            current = null;
        }
    }

    String clientAddress() {
        String a = clientAddress;
        if (a == null) {
            SocketAddress remote = ctx.channel().remoteAddress();
            a = remote instanceof InetSocketAddress inet && inet.getAddress() != null
                    ? inet.getAddress().getHostAddress()
                    : String.valueOf(remote);
            clientAddress = a;
        }
        return a;
    }
}
