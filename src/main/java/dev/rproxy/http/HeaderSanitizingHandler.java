package dev.rproxy.http;

import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.config.ListenConfig;
import dev.rproxy.config.SecurityConfig;
import dev.rproxy.edge.ChannelClient;
import dev.rproxy.edge.ClientIdentity;
import dev.rproxy.edge.SecurityHeaders;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.util.ArrayDeque;

/**
 * The HTTP/1 client connection at the edge: which requests are forwarded, in which order their
 * responses go out, and whether the connection persists after each.
 *
 * <p>Inbound (requests): refuses what the decoder could not parse and what breaks {@link
 * RequestRules}, with the refusal in its turn; a request that passes is made ready for the backend
 * by {@link RequestForwarding}, after its client is found ({@link ClientIdentity}: recorded on the
 * channel before the request goes on, and named in {@code X-Real-IP}).
 *
 * <p>Outbound (relayed responses): each is framed for the client that asked by {@link
 * ResponseFraming}. Responses the proxy makes itself are always {@link FullHttpResponse}s with
 * explicit framing and are not stripped; relayed ones never are.
 *
 * <p>Persistence (RFC 9112 section 9.3) is decided here, once per response, for both kinds: the
 * connection stays open unless the client did not ask for keep-alive, the body is close-delimited,
 * the proxy's own response says {@code Connection: close}, or the relay asked to close ({@link
 * #closeAfterResponse()}). The response head says so, and after the last byte the connection is
 * closed: at once when the client has sent everything, otherwise with a lingering close.
 *
 * <p>Pipelining: a request's head can pass here while the response to an earlier one is still being
 * written, so what a response needs to know of its request (HEAD, version, keep-alive) is queued in
 * request order and taken when that response's head goes out. A request refused here while earlier
 * ones are unanswered gets its refusal after their responses; nothing after it is read.
 *
 * <p>Upgrades: {@code Upgrade} is hop-by-hop, but a request without a body that asks for one (with
 * {@code Connection: upgrade}, in HTTP/1.1) keeps it, so the backend may switch protocols; its 101
 * keeps the accepted {@code Upgrade} on the way back (see {@link dev.rproxy.proxy.Tunnel}).
 */
public final class HeaderSanitizingHandler extends ChannelDuplexHandler {
    private final ProxyMetrics metrics;
    private final String scheme;
    private final SecurityConfig security;
    private final int maxHeaderCount;
    private final long maxBodyBytes;
    private final ClientIdentity identity;
    private final ListenConfig listener;
    private final boolean securityHeaders;
    /** Made at the first request: by then a PROXY header, if the listener has one, has been read. */
    private ChannelClient clients;
    /** Longest a closing connection keeps reading and dropping what a client still sends. */
    static final long LINGER_MS = 2000;

    /** What the response to one request needs to know of it. */
    private record RequestState(boolean head, HttpVersion version, boolean keepAlive) {}

    /** For a response without a request (a 408 before any head was complete): close after it. */
    private static final RequestState NO_REQUEST = new RequestState(false, HttpVersion.HTTP_1_1, false);

    private final ArrayDeque<RequestState> awaitingResponse = new ArrayDeque<>(2);
    private RequestState answering;
    private boolean informational;
    private boolean discardInput;
    private ErrorResponses.Failure deferredReject;
    private boolean closeRequested;
    private boolean closeAfterLast;
    private boolean lingerAfterLast;
    private boolean closing;

    /**
     * @param listener where the requests come in: {@code X-Forwarded-Proto} is its scheme, and a
     *     request for a host outside its {@code allowedHosts} gets 421
     * @param maxHeaderCount more header fields than this: 431
     * @param maxBodyBytes a declared {@code Content-Length} above this: 413 (0: no limit)
     * @param security optional checks: dot segments, allowed methods
     * @param identity which peers are believed about their clients ({@code trustedProxies})
     * @param metrics counts the requests refused here
     * @param securityHeaders the refusals made here carry the security preset (top-level {@code
     *     securityHeaders})
     */
    public HeaderSanitizingHandler(ListenConfig listener, int maxHeaderCount, long maxBodyBytes,
            SecurityConfig security, ClientIdentity identity, ProxyMetrics metrics, boolean securityHeaders) {
        this.listener = listener;
        this.scheme = listener.scheme();
        this.securityHeaders = securityHeaders;
        this.metrics = metrics;
        this.security = security;
        this.maxHeaderCount = maxHeaderCount;
        this.maxBodyBytes = maxBodyBytes;
        this.identity = identity;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (discardInput) {
            ReferenceCountUtil.release(msg); // after a refused request nothing more is read
            return;
        }
        if (!(msg instanceof HttpRequest request)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (request.decoderResult().isFailure()) {
            ReferenceCountUtil.release(msg);
            reject(ctx, ErrorResponses.ofDecoderFailure(request.decoderResult().cause()));
            return;
        }
        ErrorResponses.Failure limit = RequestRules.check(request, maxHeaderCount, maxBodyBytes, security);
        if (limit == null && !listener.allowsHost(request.headers().get(HttpHeaderNames.HOST))) {
            limit = ErrorResponses.Failure.MISDIRECTED; // RFC 9110 section 15.5.20
        }
        if (limit != null) {
            ReferenceCountUtil.release(msg);
            reject(ctx, limit);
            return;
        }
        awaitingResponse.addLast(new RequestState(HttpMethod.HEAD.equals(request.method()),
                request.protocolVersion(), HttpUtil.isKeepAlive(request)));
        if (clients == null) {
            clients = identity.on(ctx.channel());
        }
        // Before RequestForwarding appends the peer to X-Forwarded-For.
        InetAddress client = clients.resolve(request.headers());
        RequestForwarding.prepare(request, clients.peerText(), clients.text(client), scheme);
        ctx.fireChannelRead(request);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt == RequestHeadDeadline.TIMED_OUT) {
            if (answering != null || !awaitingResponse.isEmpty()) {
                closeRequested = true; // a pipelined head is dripping in: end after the responses due
                discardInput = true;
            } else {
                reject(ctx, ErrorResponses.Failure.REQUEST_TIMEOUT);
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /**
     * Refuses a request that is not forwarded and ends the connection: nothing after it is read. The
     * refusal goes out at once, or after the responses still due to earlier requests.
     */
    private void reject(ChannelHandlerContext ctx, ErrorResponses.Failure failure) {
        closeRequested = true;
        discardInput = true;
        if (answering == null && awaitingResponse.isEmpty()) {
            sendReject(ctx, failure);
        } else {
            deferredReject = failure;
        }
    }

    private void sendReject(ChannelHandlerContext ctx, ErrorResponses.Failure failure) {
        closing = true;
        metrics.refused(failure.status.code());
        FullHttpResponse response = ErrorResponses.response(failure.status, failure.message, true);
        if (failure.status.code() == 405) {
            response.headers().set(HttpHeaderNames.ALLOW, RequestRules.allowed(security));
        }
        if (securityHeaders) {
            SecurityHeaders.apply(response.headers(), listener.tls() != null);
        }
        ctx.writeAndFlush(response).addListener(f -> LingeringCloseHandler.closeGracefully(ctx, LINGER_MS));
    }

    /**
     * The relay's request to end the connection after the response in progress (shutdown, or a
     * request body that was not read to its end). Called on the channel's event loop.
     */
    public void closeAfterResponse() {
        closeRequested = true;
    }

    /** Whether the connection ends after the response just written (or a refusal follows it). */
    public boolean isClosing() {
        return closing;
    }

    /**
     * {@code client}, the client of a request that passed here ({@link ClientIdentity#of} when it
     * did), as {@code X-Real-IP} gave it: for the access log.
     */
    public String clientIp(InetAddress client) {
        if (clients == null) {
            return String.valueOf(client); // no request has passed: not called
        }
        return clients.text(client);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof HttpResponse response) {
            if (response.status().code() == 101) {
                switchingProtocols(response);
                ctx.write(msg, promise);
                return;
            }
            if (response.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
                ResponseFraming.frameInterim(response);
                informational = true; // its (empty) end follows and ends no exchange
                ctx.write(msg, promise);
                return;
            }
            startFinalResponse(response);
        }
        if (msg instanceof LastHttpContent) {
            if (informational && !(msg instanceof HttpResponse)) {
                informational = false;
                ctx.write(msg, promise);
                return;
            }
            endFinalResponse(ctx, msg, promise);
            return;
        }
        ctx.write(msg, promise);
    }

    /**
     * The backend accepted the oldest request's upgrade (the relay passes a 101 on for no other): it
     * answers that request and is the last HTTP on this connection; the relay turns the connection
     * into a byte tunnel once it is written. The accepted protocol and {@code Connection: upgrade}
     * are the only hop-by-hop fields kept.
     */
    private void switchingProtocols(HttpResponse response) {
        awaitingResponse.pollFirst();
        ResponseFraming.frameSwitch(response);
        discardInput = true;
    }

    /** Frames the response to the oldest unanswered request and decides whether the connection persists. */
    private void startFinalResponse(HttpResponse response) {
        RequestState request = awaitingResponse.pollFirst();
        answering = request != null ? request : NO_REQUEST;
        boolean full = response instanceof FullHttpResponse;
        boolean ownClose = full && !HttpUtil.isKeepAlive(response);
        boolean lengthKnown = full || ResponseFraming.frameFinal(response, answering.head(), answering.version());
        boolean nothingMoreDue = awaitingResponse.isEmpty() && deferredReject == null;
        closeAfterLast = !answering.keepAlive() || ownClose || !lengthKnown || (closeRequested && nothingMoreDue);
        lingerAfterLast = closeRequested || ownClose;
        HttpHeaders headers = response.headers();
        if (closeAfterLast) {
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
        } else if (!answering.version().isKeepAliveDefault()) {
            // An HTTP/1.0 client keeps the connection only when told so explicitly.
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        } else {
            headers.remove(HttpHeaderNames.CONNECTION);
        }
    }

    /**
     * Writes the last part of a final response, then closes the connection if that was decided (or
     * asked for since the head went out), or sends a refusal that waited for this response.
     */
    private void endFinalResponse(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        answering = null;
        boolean nothingMoreDue = awaitingResponse.isEmpty() && deferredReject == null;
        if (closeAfterLast || (closeRequested && nothingMoreDue)) {
            closing = true;
            boolean linger = lingerAfterLast || closeRequested;
            ctx.write(msg, promise.unvoid()).addListener(f -> {
                if (linger) {
                    LingeringCloseHandler.closeGracefully(ctx, LINGER_MS);
                } else {
                    ctx.close();
                }
            });
            return;
        }
        ctx.write(msg, promise);
        if (deferredReject != null && awaitingResponse.isEmpty()) {
            ErrorResponses.Failure failure = deferredReject;
            deferredReject = null;
            sendReject(ctx, failure);
        }
    }
}
