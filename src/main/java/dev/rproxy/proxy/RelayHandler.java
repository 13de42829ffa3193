package dev.rproxy.proxy;

import dev.rproxy.edge.ClientIdentity;
import dev.rproxy.http.ErrorResponses.Failure;
import dev.rproxy.http.HeaderSanitizingHandler;
import dev.rproxy.http.IdleClients;
import dev.rproxy.http.StrictHttpServerCodec;
import dev.rproxy.http2.Http2ServerConnection;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetAddress;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

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
 * <p>Reads: client reads pause while there is no upstream channel to send a body to, while the
 * upstream channel is unwritable, and while a pipelined request waits for the exchange before it
 * (answered in order, the rest of its bytes held in the socket and in {@code FlowControlHandler}).
 * Each cause is one bit of {@link #pauseReasons}; autoRead changes only when the set becomes empty
 * or non-empty, so a keep-alive exchange that finds an idle pooled connection changes nothing (on
 * epoll every change is a system call).
 *
 * <p>Threading: every method runs on the channel's event loop.
 */
public final class RelayHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(RelayHandler.class);

    private final Snapshot.Current snapshots;
    /** The snapshot of the latest exchange (or of the connection's start, before its first). */
    private Snapshot services;
    private final HeaderSanitizingHandler connection;
    private final ChannelFutureListener nextRequest = this::onResponseWritten;
    static final int PAUSE_NO_UPSTREAM = 1;
    static final int PAUSE_BACKPRESSURE = 2;
    static final int PAUSE_NEXT_REQUEST = 4;
    /** An upgrade request is complete: what follows is HTTP or the new protocol, as the backend decides. */
    static final int PAUSE_UPGRADE = 8;
    private static final int PAUSE_EXCHANGE = PAUSE_NO_UPSTREAM | PAUSE_BACKPRESSURE | PAUSE_UPGRADE;

    private ChannelHandlerContext ctx;
    /** Holds back what follows an upgrade request until the backend has answered it. */
    private StrictHttpServerCodec codec;
    private Exchange current;
    private HttpRequest next;
    /**
     * The client of {@link #next}, taken as it arrived: the channel's {@link ClientIdentity#CLIENT}
     * is the latest request's, which by the time a pipelined one is started may be a later one's.
     */
    private InetAddress nextClient;
    private FullHttpResponse localResponse;
    private int pauseReasons;
    private ScheduledFuture<?> deadlineCheck;
    private boolean draining;
    private boolean inputShutdown;
    /** This connection's list of idle ones, and its place in it; both null for an HTTP/2 stream. */
    private IdleClients idleClients;
    private IdleClients.Entry idleEntry;

    /**
     * @param connection the connection's sanitizer, which decides persistence and closes; the relay
     *     asks it to close after a response when the connection cannot carry another request
     */
    public RelayHandler(Snapshot.Current snapshots, HeaderSanitizingHandler connection) {
        this.snapshots = snapshots;
        this.services = snapshots.get();
        this.connection = connection;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        // An HTTP/2 stream is not a connection to close for room: the cap counts connections.
        // An HTTP/2 stream is not a connection to close for room (its connection is, while no
        // stream is open; see Http2ServerConnection).
        if (!Http2ServerConnection.isStream(ctx.channel())) {
            idleClients = services.idleClients().get(ctx.channel().eventLoop());
            idleEntry = new IdleClients.Entry() {
                @Override
                protected void closeIdle() {
                    RelayHandler.this.closeIdle();
                }
            };
            idleClients.add(idleEntry);
        }
        this.codec = ctx.pipeline().get(StrictHttpServerCodec.class);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof HttpRequest request) {
            if (idleEntry != null) {
                idleEntry.leave();
            }
            if (current != null || localResponse != null) {
                if (next != null) {
                    // Reads pause as soon as one request waits; a second cannot arrive.
                    ReferenceCountUtil.release(msg);
                    ctx.close();
                    return;
                }
                next = request; // pipelined: answered after the current exchange
                nextClient = ClientIdentity.of(ctx.channel());
                pauseReads(PAUSE_NEXT_REQUEST);
                return;
            }
            startExchange(request, ClientIdentity.of(ctx.channel()));
        } else if (msg instanceof HttpContent content && current != null) {
            current.onRequestContent(content);
        } else if (msg instanceof LastHttpContent last && localResponse != null) {
            // The body of a local request is read and dropped; its answer goes out after it.
            last.release();
            FullHttpResponse response = localResponse;
            localResponse = null;
            pauseReads(PAUSE_NEXT_REQUEST); // before the write: its listener may run at once
            ctx.writeAndFlush(response).addListener(nextRequest);
        } else {
            // Body of a request that was already answered (e.g. rejected): dropped.
            ReferenceCountUtil.release(msg);
        }
    }

    private void startExchange(HttpRequest request, InetAddress client) {
        services = snapshots.get();
        FullHttpResponse local = services.local().respond(request);
        if (local != null) {
            localResponse = local;
            return;
        }
        Exchange exchange = new Exchange(this, ctx, services, request, client);
        current = exchange;
        if (draining) {
            exchange.fail(Failure.SHUTTING_DOWN, "draining");
        } else if (services.budget().shedding()) {
            exchange.fail(Failure.OVERLOADED, services.budget().used() + " bytes in buffers");
        } else {
            exchange.start();
        }
    }

    /**
     * Makes sure the connection's deadline timer runs within {@code delayNanos}. One timer per
     * connection serves its exchanges one after another and re-arms itself only while an exchange
     * is in flight, so back-to-back keep-alive exchanges schedule and cancel nothing.
     */
    void ensureDeadlineCheck(long delayNanos) {
        if (deadlineCheck != null && deadlineCheck.getDelay(TimeUnit.NANOSECONDS) > delayNanos) {
            deadlineCheck.cancel(false); // a shorter deadline (a retry's per-try timeout) than the one pending
            deadlineCheck = null;
        }
        if (deadlineCheck == null) {
            deadlineCheck = ctx.executor().schedule(this::checkDeadline, delayNanos, TimeUnit.NANOSECONDS);
        }
    }

    private void checkDeadline() {
        deadlineCheck = null;
        Exchange exchange = current;
        if (exchange != null) {
            long next = exchange.checkDeadline();
            if (next > 0 && current == exchange) {
                ensureDeadlineCheck(next);
            }
        }
    }

    void pauseReads(int reason) {
        pauseReasons |= reason;
        if (ctx.channel().config().isAutoRead()) {
            ctx.channel().config().setAutoRead(false);
        }
    }

    void resumeReads(int reasons) {
        pauseReasons &= ~reasons;
        if (pauseReasons == 0 && !ctx.channel().config().isAutoRead() && ctx.channel().isActive()) {
            // With a FlowControlHandler in front this delivers queued messages synchronously.
            ctx.channel().config().setAutoRead(true);
            if (inputShutdown) {
                clientInputEnded();
            }
        }
    }

    /**
     * The client's input has ended. The decoder emits everything it decoded before the end event,
     * but FlowControlHandler passes that event ahead of the messages it still holds while reads are
     * paused; so the exchange hears of it only once nothing is held (reads on), and a body whose
     * last part is still among those messages is not mistaken for an unfinished one.
     */
    private void clientInputEnded() {
        if (current != null && pauseReasons == 0) {
            current.onClientInputEnded();
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
        if (idleEntry != null) {
            idleEntry.leave();
        }
        Exchange exchange = current;
        current = null;
        next = null;
        if (deadlineCheck != null) {
            deadlineCheck.cancel(false);
            deadlineCheck = null;
        }
        if (localResponse != null) {
            localResponse.release();
            localResponse = null;
        }
        if (exchange != null) {
            exchange.onClientClosed();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof ChannelInputShutdownEvent) {
            // The client sent all it will send: finish the exchange in progress, then close. A body
            // it had not finished can never end, so that exchange ends now (see clientInputEnded).
            inputShutdown = true;
            if (current == null && localResponse == null) {
                ctx.close();
            } else {
                clientInputEnded();
            }
            return;
        }
        if (evt instanceof IdleStateEvent) {
            // Nothing read from the client for idleMs. Between requests the connection is idle and
            // closes; during an exchange only a client that holds it up (not reading the response,
            // or not sending the body) is cut; a slow backend is the response deadline's business.
            long idle = services.timeouts().idleMs() * 1_000_000L;
            if (current == null && localResponse == null) {
                ctx.close();
            } else if (current != null && current.clientStalledFor(idle)) {
                current.onClientStalled();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        // Resets and broken pipes from clients are routine, hence DEBUG; anything else shows there
        // too. The exchange (if any) is cleaned up in channelInactive.
        log.debug("[{}] client connection failed, closing: {}", ctx.channel().id(), cause.toString());
        ctx.close();
    }

    /**
     * Memory is under pressure: a client that has left its response unread longer than the budget
     * now allows is cut, which frees what is queued for it and its backend connection. Called on
     * the channel's loop.
     */
    public void shedIfStalled() {
        Exchange exchange = current;
        if (exchange != null && exchange.responseStalledFor(services.budget().stallLimitNanos())) {
            log.debug("[{}] client not reading its response under memory pressure, closing", ctx.channel().id());
            exchange.onClientStalled();
        }
    }

    /** Closes the connection, idle (taken from {@link IdleClients}), to make room for another. */
    void closeIdle() {
        if (current == null && localResponse == null && next == null) {
            ctx.close();
        }
    }

    /**
     * Stops taking new requests: an idle connection closes now, a busy one after its response.
     * Called on the channel's loop when the server shuts down.
     */
    public void drain() {
        draining = true;
        connection.closeAfterResponse();
        if (current == null && localResponse == null) {
            ctx.close();
        }
    }

    /** Listener for the write of a response's last byte: the next request may be read now. */
    ChannelFutureListener nextRequestListener() {
        return nextRequest;
    }

    private void onResponseWritten(ChannelFuture written) {
        current = null;
        pauseReasons &= ~PAUSE_EXCHANGE;
        HttpRequest waiting = next;
        InetAddress waitingClient = nextClient;
        next = null;
        nextClient = null;
        if (!written.isSuccess()) {
            ctx.close();
            return;
        }
        if (!ctx.channel().isActive() || connection.isClosing()) {
            return; // the sanitizer closes (or already closed) the connection after this response
        }
        if (waiting != null) {
            startExchange(waiting, waitingClient);
            if (current != null) {
                current.onClientReadComplete(); // flushes the head when it went out synchronously
            }
        }
        resumeReads(PAUSE_NEXT_REQUEST); // delivers what FlowControlHandler holds, synchronously
        if (current == null && localResponse == null && codec != null) {
            // If that was an upgrade request, what the client sent behind it is HTTP after all.
            codec.resumeDecoding();
        }
        if (inputShutdown && current == null && localResponse == null && next == null) {
            ctx.close(); // the client has sent its last request and it is answered
        } else if (current == null && localResponse == null && next == null && idleClients != null) {
            idleClients.add(idleEntry);
        }
    }

    /**
     * The backend accepted the upgrade of the current exchange: writes its 101 (the last HTTP on this
     * connection) and hands both connections to a {@link Tunnel}, which replaces this handler.
     */
    void switchProtocols(FullHttpResponse switching, Channel backend, Tunnel.Owner owner) {
        current = null;
        if (next != null) {
            // The codec decodes nothing behind an upgrade request, so nothing can be waiting; if
            // something is, it was sent as HTTP where the new protocol now runs, and is dropped.
            ReferenceCountUtil.release(next);
            next = null;
        }
        if (deadlineCheck != null) {
            deadlineCheck.cancel(false);
            deadlineCheck = null;
        }
        ctx.writeAndFlush(switching, ctx.voidPromise()); // encoded now, before the codec goes
        Tunnel.start(ctx.channel(), backend, services.timeouts(), owner);
    }

    /** Ends the connection after the response in progress; see {@link HeaderSanitizingHandler}. */
    void closeAfterResponse() {
        connection.closeAfterResponse();
    }

    /**
     * The exchange ended and the connection closes once its response is written: nothing more is
     * read from it.
     */
    void exchangeEnded(Exchange exchange) {
        if (current == exchange) {
            current = null;
            next = null;
            pauseReads(PAUSE_NEXT_REQUEST);
        }
    }

    /** The access log's client: {@code client} (an exchange's) as text, as {@code X-Real-IP} said it. */
    String clientAddress(InetAddress client) {
        return connection.clientIp(client);
    }
}
