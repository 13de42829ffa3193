package dev.rproxy.proxy;

import dev.rproxy.backend.Backend;
import dev.rproxy.config.RetryConfig;
import dev.rproxy.edge.Admission;
import dev.rproxy.edge.RoutePolicy;
import dev.rproxy.edge.SecurityHeaders;
import dev.rproxy.http.ErrorResponses;
import dev.rproxy.http.ErrorResponses.Failure;
import dev.rproxy.http.ResponseRules;
import dev.rproxy.http2.BackendStreamMessages;
import dev.rproxy.pool.Connects;
import dev.rproxy.pool.UpstreamPool;
import dev.rproxy.routing.Route;
import dev.rproxy.routing.Upstream;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.util.AsciiString;
import io.netty.util.ReferenceCountUtil;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One request and its response, from the request head to the last byte written to the client.
 *
 * <p>Threading: confined to the client channel's event loop; the upstream channel comes from that
 * loop's pool, so every callback here runs on one thread and nothing is locked.
 *
 * <p>Ownership: a message handed to {@code onRequestContent} or {@code onUpstreamRead} belongs to
 * this exchange, which either writes it on (passing ownership to the other channel) or releases it.
 *
 * <p>Commit point: until the response head has been written to the client, a failure is answered
 * with a status from {@link ErrorResponses}; after it, the only honest signal is closing the client
 * connection, so the client never sees a second status line or a falsely complete body.
 *
 * <p>An upstream connection goes back to its pool only after a clean exchange: request fully sent,
 * response fully read and framed by length or chunks, keep-alive allowed by the backend, and no
 * failure or deadline on the way. Otherwise it is closed.
 */
final class Exchange implements UpstreamPool.Acquirer, Tunnel.Owner {
    private static final Logger log = LoggerFactory.getLogger(Exchange.class);
    private static final AsciiString IDEMPOTENCY_KEY = AsciiString.cached("idempotency-key");
    private static final AsciiString X_REQUEST_ID = AsciiString.cached("x-request-id");
    private static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    /** Longest wait for a key set fetched again because a token names a key it did not have. */
    private static final long KEYS_WAIT_MS = 5_000;

    private final RelayHandler relay;
    private final ChannelHandlerContext client;
    private final Snapshot services;
    private final HttpRequest request;
    /** Who sent the request ({@link dev.rproxy.edge.ClientIdentity}); {@code null} on a channel without an IP peer. */
    private final InetAddress clientAddress;
    private final String method;
    private final String uri;
    /** The client's protocol, as the access log names it. */
    private final String protocol;
    /** The access log wants the upstream timings: their clock readings are taken. */
    private final boolean timed;
    /** The route's checks and response changes; {@code null}: none. */
    private RoutePolicy policy;
    /** What the policy decided; holds the request's places in in-flight counts until the end. */
    private Admission admission;
    private long maxBodyBytes;
    private String requestId;
    /** Whether the request carried an {@code X-Request-Id} that was not usable (and is replaced). */
    private boolean requestIdReplaced;
    private long acquireStartNanos;
    private long connectedNanos;
    private long firstByteNanos;
    private final long startNanos = System.nanoTime();
    private final long responseTimeoutNanos;
    /** How long one try may wait for its response head: {@code retries.perTryTimeoutMs}, else the above. */
    private long tryTimeoutNanos;
    private final boolean clientHttp10;
    private final boolean bodyless;
    /** The sanitizer kept {@code Upgrade}: the backend may switch protocols with a 101. */
    private final boolean upgradeRequested;

    /** The upstream group the route chose; {@code null} until then (and for no route at all). */
    private Upstream group;
    private Backend backend;
    /** The backend whose count of exchanges in flight includes this one, from its pick to the end. */
    private Backend counted;
    /** The backends tried before the current one, for retries; allocated at the first retry. */
    private Backend[] tried;
    private int retries;
    private boolean retryBudgetHeld;
    private boolean ended;
    private UpstreamPool pool;
    private boolean acquiring;
    /** Within {@code pool.acquire}: a connection attached now was idle in the pool. */
    private boolean inAcquire;
    private Channel upstream;
    private UpstreamHandler upstreamHandler;
    private long lastProgressNanos = startNanos;
    private long stalledSinceNanos;
    /** The body's clock; {@code null} for a request without a body. */
    private final BodyPace bodyPace;

    private boolean retried;
    /** The start of the body, read before a backend is chosen; {@code null} when not buffered. */
    private RequestBuffer body;
    /** Reading the body into {@link #body}; no backend is chosen yet. */
    private boolean buffering;
    private boolean bodyForwarded;
    private boolean requestComplete;
    private boolean informational;
    private boolean responseStarted;
    /** The final response until the backend read that brought its head completes. */
    private final HeldResponse held = new HeldResponse();
    private boolean backendReusable;
    private boolean finished;
    private boolean upstreamPaused;
    private boolean upstreamFlushPending;
    private int status;
    private long bytesIn;
    private long bytesOut;

    /** @param clientAddress the request's client, as the sanitizer found it when the request passed */
    Exchange(RelayHandler relay, ChannelHandlerContext client, Snapshot services, HttpRequest request,
            InetAddress clientAddress) {
        this.relay = relay;
        this.client = client;
        this.services = services;
        this.request = request;
        this.clientAddress = clientAddress;
        this.method = request.method().name();
        this.uri = request.uri();
        this.protocol = client.channel() instanceof Http2StreamChannel ? "HTTP/2.0" : request.protocolVersion().text();
        this.timed = services.accessLog() != null && services.accessLog().detailed();
        this.maxBodyBytes = services.limits().maxBodyBytes();
        this.clientHttp10 = request.protocolVersion().minorVersion() == 0;
        this.bodyless = !HttpUtil.isTransferEncodingChunked(request) && HttpUtil.getContentLength(request, 0L) == 0;
        this.responseTimeoutNanos = TimeUnit.MILLISECONDS.toNanos(services.timeouts().responseMs());
        this.tryTimeoutNanos = responseTimeoutNanos;
        this.upgradeRequested = request.headers().contains(HttpHeaderNames.UPGRADE);
        this.bodyPace = bodyless ? null : new BodyPace(services.limits().minBodyRate(), services.timeouts().idleMs());
    }

    /**
     * Starts the exchange. A request with a body first has up to {@code limits.requestBufferBytes}
     * of it read into a {@link RequestBuffer}, reads on, with no backend chosen yet; the others pick
     * a backend and ask for a connection at once. The client's reads stay paused from then until
     * the connection is ready.
     */
    void start() {
        Route route = services.upstreams().router().route(request);
        if (route == null) {
            fail(Failure.NO_ROUTE, request.headers().get(HttpHeaderNames.HOST) + " " + uri);
            return;
        }
        if (route.policy() != null) {
            policy = route.policy();
            admission = policy.admit(request, clientIp());
            if (admission.awaitedKeys() != null) {
                awaitKeys(route);
                return;
            }
            if (admission.refused()) {
                fail(admission.failure(), admission.detail());
                return;
            }
            maxBodyBytes = policy.maxBodyBytes(maxBodyBytes);
        }
        proceed(route, true);
    }

    /**
     * The token names a key the route's key set does not have (yet): the set is being fetched
     * again, and the request waits for that, off the event loop and with the client's reads
     * paused, then is checked once more.
     */
    private void awaitKeys(Route route) {
        relay.pauseReads(RelayHandler.PAUSE_NO_UPSTREAM);
        admission.awaitedKeys().orTimeout(KEYS_WAIT_MS, TimeUnit.MILLISECONDS).whenComplete((ok, error) ->
                client.executor().execute(() -> {
                    if (finished) {
                        return;
                    }
                    policy.resume(request, clientIp(), admission);
                    if (admission.refused()) {
                        fail(admission.failure(), admission.detail());
                        return;
                    }
                    maxBodyBytes = policy.maxBodyBytes(maxBodyBytes);
                    proceed(route, false);
                    if (buffering) {
                        relay.resumeReads(RelayHandler.PAUSE_NO_UPSTREAM); // the body is read into the buffer
                    }
                }));
    }

    /** The route admitted the request: on to its upstream. {@code inClientRead}: as for {@link #connect}. */
    private void proceed(Route route, boolean inClientRead) {
        if (maxBodyBytes > 0 && HttpUtil.getContentLength(request, 0L) > maxBodyBytes) {
            // The head passed the largest limit of any route; this route's may be lower.
            fail(Failure.BODY_TOO_LARGE, "declared " + HttpUtil.getContentLength(request, 0L) + " bytes, over "
                    + maxBodyBytes);
            return;
        }
        if (!route.upstream().requestStarted()) {
            fail(Failure.UPSTREAM_FULL, route.upstream().name() + ": " + route.upstream().config().maxRequests()
                    + " requests in flight");
            return;
        }
        group = route.upstream();
        if (services.accessLog() != null && !requestIdKept()) {
            // What the backend logs matches the proxy's line; a field that was there is replaced.
            if (requestIdReplaced) {
                request.headers().set(X_REQUEST_ID, requestId);
            } else {
                request.headers().add(X_REQUEST_ID, requestId);
            }
        }
        long perTry = group.retries().perTryTimeoutMs();
        if (perTry > 0) {
            tryTimeoutNanos = Math.min(responseTimeoutNanos, TimeUnit.MILLISECONDS.toNanos(perTry));
        }
        int bufferLimit = services.limits().requestBufferBytes();
        Backend chosen = group.balancer().pick(request, hashedClient());
        route.apply(request);
        if (chosen == null || bodyless || bufferLimit == 0 || upgradeRequested) {
            // With no healthy backend a body is not awaited: 503 from the head alone.
            connect(chosen, inClientRead);
            return;
        }
        backend = chosen; // kept while the body is read; chosen again if it turns unhealthy
        countOn(chosen);
        body = new RequestBuffer(client.alloc(), bufferLimit);
        buffering = true;
        bodyPace.start();
        if (HttpUtil.is100ContinueExpected(request)) {
            // The client waits for this before it sends the body, which is read here, not by the
            // backend: the proxy answers the expectation (RFC 9110 section 10.1.1), and the
            // backend gets the body with the head and no expectation.
            request.headers().remove(HttpHeaderNames.EXPECT);
            if (!clientHttp10) {
                client.write(new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.CONTINUE), client.voidPromise());
                client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT, client.voidPromise());
            }
        }
    }

    /**
     * Asks {@code chosen}'s pool on this loop for a connection; {@code null}: none is healthy.
     * {@code inClientRead}: called while a client read is delivered, whose end flushes what a
     * connection handed over at once was given; otherwise that is flushed at once.
     */
    private void connect(Backend chosen, boolean inClientRead) {
        if (chosen == null) {
            fail(Failure.NO_BACKEND, "none is healthy");
            return;
        }
        backend = chosen;
        countOn(chosen);
        if (timed) {
            acquireStartNanos = System.nanoTime();
            connectedNanos = 0;
            firstByteNanos = 0;
        }
        pool = services.pools().pool(client.channel().eventLoop(), backend);
        acquiring = inClientRead;
        inAcquire = true;
        pool.acquire(this);
        inAcquire = false;
        acquiring = false;
        if (upstream == null && !finished) {
            relay.pauseReads(RelayHandler.PAUSE_NO_UPSTREAM); // until a connection is ready
        }
    }

    /**
     * The pool's answer (or a fresh connection's, after a retry). The usual case with keep-alive
     * comes synchronously, from within {@link #start()}: nothing was paused, and the head is
     * flushed with whatever else this read brought.
     */
    @Override
    public void acquired(Channel ch) {
        if (finished) {
            pool.release(ch, true); // the client left while we waited; the connection is untouched
            return;
        }
        attach(ch, !acquiring);
    }

    @Override
    public void acquireFailed(Throwable cause) {
        onConnectFailed(cause);
    }

    private void retryOnFreshConnection() {
        retried = true;
        // Nothing may be read from the client until the new connection can take it: paused for
        // that before the old connection's backpressure is lifted, so no body part is delivered
        // with nowhere to go.
        relay.pauseReads(RelayHandler.PAUSE_NO_UPSTREAM);
        relay.resumeReads(RelayHandler.PAUSE_BACKPRESSURE);
        pool.acquireFresh(this);
    }

    /**
     * The backend to try next after a failure of kind {@code condition} ({@link RetryConfig}), or
     * {@code null} when the request is not retried: the upstream's {@code retries} do not name the
     * condition or are used up, the request cannot be sent again as it was ({@code anyMethod}: only
     * for a connect failure, where nothing reached the backend), the exchange is past {@code
     * timeouts.responseMs} overall, no other backend is routable, or the retry budget is spent.
     * Like nginx's {@code proxy_next_upstream}, without waiting for the health checker.
     */
    private Backend nextTry(String condition, boolean anyMethod) {
        RetryConfig policy = group.retries();
        if (retries >= policy.attempts() || !canResend() || (!anyMethod && !isIdempotent())
                || (condition != null && !policy.on(condition))
                || System.nanoTime() - startNanos >= responseTimeoutNanos) {
            return null;
        }
        if (tried == null) {
            tried = new Backend[policy.attempts() + 1];
        }
        tried[retries] = backend;
        Backend other = group.balancer().pickAnother(request, hashedClient(), tried, retries + 1,
                group.backends());
        if (other == null) {
            return null;
        }
        if (!retryBudgetHeld) {
            if (!group.startRetry()) {
                services.metrics().retryRefused(group.metricsIndex());
                log.debug("[{}] {} {}: not retried, the retry budget of upstream {} is spent ({} in flight)",
                        client.channel().id(), method, uri, group.name(), group.retriesInFlight());
                return null;
            }
            retryBudgetHeld = true;
        }
        return other;
    }

    /** Sends the request again, to {@code other}. */
    private void retryOn(Backend other, String why) {
        retries++;
        services.metrics().retried(group.metricsIndex());
        log.debug("[{}] {} {}: {} on {}, retry {} on {}", client.channel().id(), method, uri, why, backend.id(), retries,
                other.id());
        relay.pauseReads(RelayHandler.PAUSE_NO_UPSTREAM); // as in retryOnFreshConnection
        relay.resumeReads(RelayHandler.PAUSE_BACKPRESSURE);
        connect(other, false);
    }

    /** Retries elsewhere after a failure of kind {@code condition}, when {@link #nextTry} allows; false when not. */
    private boolean retryOnAnotherBackend(String why, String condition, boolean anyMethod) {
        Backend other = nextTry(condition, anyMethod);
        if (other == null) {
            return false;
        }
        retryOn(other, why);
        return true;
    }

    /**
     * Whether the request can be sent again as the client sent it: nothing of its body went
     * anywhere, or all of it is held in the request buffer.
     */
    private boolean canResend() {
        return body != null ? body.isComplete() : !bodyForwarded;
    }

    private void onConnectFailed(Throwable cause) {
        if (finished) {
            return;
        }
        Failure failure = ErrorResponses.ofAcquireFailure(cause);
        boolean backendFault = failure == Failure.CONNECT_FAILED || failure == Failure.CONNECT_TIMEOUT
                || failure == Failure.TLS_FAILED;
        String detail = Connects.describe(cause);
        if (backendFault) {
            group.failed(backend, failure.message + ": " + detail, true);
        }
        // Nothing reached the backend: any request may go elsewhere, POST included; the client's
        // reads were paused, so whatever of the body was not buffered is still unread.
        if (backendFault && retryOnAnotherBackend(failure.message, RetryConfig.CONNECT_FAILURE, true)) {
            return;
        }
        fail(failure, detail);
    }

    private void attach(Channel ch, boolean flushNow) {
        assert ch.eventLoop().inEventLoop() && ch.eventLoop() == client.channel().eventLoop();
        upstream = ch;
        upstreamHandler = ch.pipeline().get(UpstreamHandler.class);
        upstreamHandler.attach(this);
        if (timed) {
            // A pooled connection handed over at once took no time worth a clock read.
            connectedNanos = inAcquire ? acquireStartNanos : System.nanoTime();
        }
        if (bodyPace != null) {
            bodyPace.start();
        }
        if (request.protocolVersion() != HttpVersion.HTTP_1_1) {
            request.setProtocolVersion(HttpVersion.HTTP_1_1);
            if (!request.headers().contains(HttpHeaderNames.HOST)) {
                // HTTP/1.0 allowed omitting Host; the HTTP/1.1 request to the backend needs one
                // (over HTTP/2, as its :authority).
                request.headers().set(HttpHeaderNames.HOST, backend.authority());
            }
        }
        ch.write(request, ch.voidPromise());
        if (body != null) {
            body.writeTo(ch);
            bodyForwarded |= body.size() > 0;
        } else if (requestComplete) {
            // Only after a retry: the (empty) body was already read from the client.
            ch.write(LastHttpContent.EMPTY_LAST_CONTENT, ch.voidPromise());
        }
        touch();
        relay.ensureDeadlineCheck(tryTimeoutNanos);
        ch.config().setAutoRead(true);
        // Delivers what the client already sent (queued in FlowControlHandler) synchronously.
        relay.resumeReads(RelayHandler.PAUSE_NO_UPSTREAM);
        // The head goes out even without body bytes (a client sending Expect: 100-continue waits
        // for an answer first): now, or at the end of the client read in progress.
        if (flushNow) {
            upstreamFlushPending = false;
            ch.flush();
        } else {
            upstreamFlushPending = true;
        }
    }

    // ---------------------------------------------------------------- client -> backend

    void onRequestContent(HttpContent content) {
        if (finished || (upstream == null && !buffering) || requestComplete) {
            ReferenceCountUtil.release(content);
            return;
        }
        if (content.decoderResult().isFailure()) {
            Throwable cause = content.decoderResult().cause();
            ReferenceCountUtil.release(content);
            fail(Failure.BAD_REQUEST, "invalid request body: " + cause);
            return;
        }
        int n = content.content().readableBytes();
        boolean last = content instanceof LastHttpContent;
        bytesIn += n;
        if (maxBodyBytes > 0 && bytesIn > maxBodyBytes) {
            // Only a chunked body gets here: a declared length over the limit was refused up front.
            ReferenceCountUtil.release(content);
            fail(Failure.BODY_TOO_LARGE, "over " + maxBodyBytes + " bytes");
            return;
        }
        if (!last && bodyPace != null && bodyPace.behind(bytesIn)) {
            ReferenceCountUtil.release(content);
            fail(Failure.BODY_TIMEOUT, bytesIn + " body bytes in " + bodyPace.elapsedMs() + " ms, under "
                    + bodyPace.minRate() + " bytes/s");
            return;
        }
        if (buffering) {
            requestComplete |= last;
            body.add(content);
            if (last || body.isFull()) {
                buffering = false;
                connect(backend.isAvailable() ? backend : group.balancer().pick(request, hashedClient()),
                        true);
            }
            return;
        }
        bodyForwarded |= n > 0;
        requestComplete |= last; // before the write: a retry it may trigger must know
        if (last && upgradeRequested) {
            // What the client sends next is HTTP or the new protocol: unread until the backend says.
            relay.pauseReads(RelayHandler.PAUSE_UPGRADE);
        }
        Channel up = upstream;
        up.write(content, up.voidPromise());
        if (finished || upstream != up) {
            return; // the write failed at once: the exchange failed or is being retried
        }
        touch();
        if (!last) {
            services.budget().fitAllowance(upstream); // under memory pressure: the smaller allowance
        }
        if (last) {
            upstreamFlushPending = false;
            upstream.flush();
        } else if (!upstream.isWritable()) {
            // As above: the mark only counts once a flush has tried the socket.
            upstreamFlushPending = false;
            upstream.flush();
            if (!upstream.isWritable()) {
                relay.pauseReads(RelayHandler.PAUSE_BACKPRESSURE);
                if (bodyPace != null) {
                    bodyPace.backendHolding();
                }
            }
        } else {
            upstreamFlushPending = true;
        }
    }

    void onClientReadComplete() {
        if (upstreamFlushPending && upstream != null) {
            upstreamFlushPending = false;
            upstream.flush();
        }
    }

    void onUpstreamWritabilityChanged(boolean writable) {
        if (writable && !finished) {
            if (bodyPace != null) {
                bodyPace.backendDrained(); // before reads resume (see BodyPace)
            }
            relay.resumeReads(RelayHandler.PAUSE_BACKPRESSURE);
        }
    }

    // ---------------------------------------------------------------- backend -> client

    void onUpstreamRead(Object msg) {
        if (finished) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpResponse response) {
            touch();
            onResponseHead(response);
        } else if (msg instanceof HttpContent content) {
            touch();
            onResponseContent(content);
        } else {
            ReferenceCountUtil.release(msg);
            onBadResponse(new IllegalStateException("not HTTP: " + msg.getClass().getSimpleName()));
        }
    }

    private void onResponseHead(HttpResponse response) {
        if (response.decoderResult().isFailure()) {
            ReferenceCountUtil.release(response);
            onBadResponse(response.decoderResult().cause());
            return;
        }
        String violation = ResponseRules.violation(response, request.method(), upgradeRequested ? request.headers() : null);
        if (violation != null) {
            onBadResponse(new IllegalStateException(violation));
            return;
        }
        int code = response.status().code();
        if (timed && firstByteNanos == 0) {
            firstByteNanos = System.nanoTime();
        }
        if (code >= 500) {
            group.failed(backend, "status " + code, false);
            if (retryStatus(response, code)) {
                return;
            }
        } else if (code >= 200) {
            group.succeeded(backend);
        }
        if (response.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
            if (code == 101) {
                switchProtocols(response);
                return;
            }
            // Relayed as is (100 Continue, 103 Early Hints), except to HTTP/1.0 clients, which must
            // not get one (RFC 9110 section 15.2); its (empty) end follows.
            informational = true;
            if (!clientHttp10) {
                client.write(response, client.voidPromise());
            }
            return;
        }
        responseStarted = true;
        releaseBody(); // answered: no retry can need it
        if (!requestComplete) {
            // The backend answers before the request body ended; the rest of it cannot be skipped
            // reliably, so this response says Connection: close and the connection ends with it.
            relay.closeAfterResponse();
        }
        status = code;
        backendReusable = ResponseRules.leavesConnectionReusable(response, request.method());
        if (policy != null) {
            policy.decorate(response.headers(), admission, overTls());
        }
        held.hold(response);
    }

    /**
     * A 502, 503 or 504 the upstream's {@code retries} name, for a request that can be sent again:
     * the response is dropped (its connection closed rather than read to the end) and the request
     * goes to another backend. A 503 with {@code Retry-After} is the backend asking for a pause,
     * which the client is told of rather than another backend asked at once.
     */
    private boolean retryStatus(HttpResponse response, int code) {
        if (!group.retries().onStatus(code) || (code == 503 && response.headers().contains(HttpHeaderNames.RETRY_AFTER))) {
            return false;
        }
        Backend other = nextTry(null, false);
        if (other == null) {
            return false;
        }
        ReferenceCountUtil.release(response);
        releaseUpstream(false);
        retryOn(other, "status " + code);
        return true;
    }

    private void onResponseContent(HttpContent content) {
        if (content.decoderResult().isFailure()) {
            ReferenceCountUtil.release(content);
            onBadResponse(content.decoderResult().cause());
            return;
        }
        if (informational) {
            if (content instanceof LastHttpContent) {
                informational = false;
            }
            if (clientHttp10) {
                content.release();
            } else {
                client.writeAndFlush(content, client.voidPromise());
            }
            return;
        }
        bytesOut += content.content().readableBytes();
        if (content instanceof LastHttpContent) {
            onResponseComplete((LastHttpContent) content);
            return;
        }
        if (held.isHeld()) {
            if (held.add(content)) {
                return;
            }
            held.writeTo(client); // as much as is ever held: the response is committed from here on
        } else {
            client.write(content, client.voidPromise());
        }
        pauseUpstreamIfClientFull();
    }

    /**
     * Stops reading the backend while the client connection is over its high-water mark. The mark
     * only counts once a flush has tried the socket: unflushed bytes of this read burst alone would
     * pause the backend needlessly.
     */
    private void pauseUpstreamIfClientFull() {
        if (!upstreamPaused && client.channel().isWritable()) {
            services.budget().fitAllowance(client.channel());
        }
        if (!upstreamPaused && !client.channel().isWritable()) {
            client.flush();
            if (!client.channel().isWritable()) {
                upstreamPaused = true;
                stalledSinceNanos = System.nanoTime();
                upstream.config().setAutoRead(false);
            }
        }
    }

    private void onResponseComplete(LastHttpContent last) {
        finished = true;
        held.writeTo(client);
        releaseUpstream(requestComplete && backendReusable);
        if (!requestComplete) {
            // The backend answered before the request body ended; the rest of it cannot be
            // skipped reliably, so the connection ends (with a lingering close) after this response.
            relay.closeAfterResponse();
        }
        ChannelFuture written = client.writeAndFlush(last);
        logAccess();
        if (requestComplete) {
            written.addListener(relay.nextRequestListener());
        } else {
            relay.exchangeEnded(this);
        }
    }

    void onUpstreamReadComplete() {
        if (!finished) {
            boolean wasHeld = held.isHeld();
            held.writeTo(client);
            client.flush();
            if (wasHeld) {
                pauseUpstreamIfClientFull(); // what was held was written without the check
            }
        }
    }

    void onClientWritabilityChanged(boolean writable) {
        if (writable && upstreamPaused && !finished) {
            upstreamPaused = false;
            upstream.config().setAutoRead(true);
        }
    }

    /**
     * The backend accepted the upgrade: the exchange ends here as HTTP, and both connections become
     * a {@link Tunnel}. The backend connection leaves the pool's reuse for good; it still counts as
     * the backend's active connection until the tunnel closes.
     */
    private void switchProtocols(HttpResponse response) {
        finished = true;
        responseStarted = true;
        status = 101;
        Channel ch = upstream;
        upstream = null;
        upstreamHandler.detach(false);
        FullHttpResponse head = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, response.status(),
                Unpooled.EMPTY_BUFFER, response.headers(), EmptyHttpHeaders.INSTANCE);
        relay.switchProtocols(head, ch, this);
    }

    @Override
    public void tunnelClosed(long fromClient, long fromBackend) {
        bytesIn = fromClient;
        bytesOut = fromBackend;
        logAccess();
    }

    // ---------------------------------------------------------------- failures

    private void onBadResponse(Throwable cause) {
        fail(Failure.BAD_RESPONSE, cause.toString());
    }

    /** The upstream channel closed or failed while this exchange held it. */
    void onUpstreamFailed(Throwable cause) {
        if (finished) {
            return;
        }
        boolean noAnswerYet = !responseStarted && !informational && canResend();
        if (noAnswerYet && !retried && BackendStreamMessages.unprocessed(cause)) {
            // An HTTP/2 backend refused the stream or went away before processing it (RFC 9113
            // section 8.7): any request, POST included, may be sent again on another connection.
            log.debug("[{}] {} did not process the stream ({}), retrying", client.channel().id(), backend.id(),
                    cause.getMessage());
            releaseUpstream(false);
            // From a task: a GOAWAY reaches the streams it leaves unprocessed before the pool
            // learns of it, and the retry must not be given a stream of that same connection.
            retried = true;
            relay.pauseReads(RelayHandler.PAUSE_NO_UPSTREAM);
            client.channel().eventLoop().execute(() -> {
                if (!finished) {
                    retryOnFreshConnection();
                }
            });
            return;
        }
        if (noAnswerYet && isIdempotent()) {
            if (upstreamHandler.isReused() && !retried) {
                // A kept-alive connection that the backend closed as we reused it: nothing reached the
                // backend's application, so the request is sent once more on a new connection.
                log.debug("[{}] reused connection to {} failed before a response, retrying", client.channel().id(), backend.id());
                releaseUpstream(false);
                retryOnFreshConnection();
                return;
            }
            // A new connection reset before any response byte: the backend may be dying. An
            // idempotent request may be sent again, elsewhere.
            group.failed(backend, "connection closed before a response", false);
            releaseUpstream(false);
            if (retryOnAnotherBackend("connection closed before a response", RetryConfig.RESET, false)) {
                return;
            }
        }
        fail(Failure.BACKEND_CLOSED, cause == null ? "connection closed" : cause.toString());
    }

    /**
     * The response deadline, checked by the connection's timer ({@link
     * RelayHandler#ensureDeadlineCheck}): fails the exchange when the backend has been silent for
     * {@code responseMs} while the exchange waited on it. Returns the nanoseconds until the next
     * check, or 0 when the exchange is over.
     */
    long checkDeadline() {
        if (finished) {
            return 0;
        }
        if (upstream == null || !waitingOnBackend()) {
            // Still waiting for a connection (the pool's and connect timeouts own that), or on a
            // slow client (the client's timeouts own that).
            return responseTimeoutNanos;
        }
        long limit = responseStarted || informational ? responseTimeoutNanos : tryTimeoutNanos;
        long idle = System.nanoTime() - lastProgressNanos;
        if (idle < limit) {
            return limit - idle;
        }
        String silent = "silent for " + TimeUnit.NANOSECONDS.toMillis(limit) + " ms";
        if (!responseStarted && !informational) {
            group.failed(backend, "no response: " + silent, false);
            Backend other = nextTry(RetryConfig.TIMEOUT, false);
            if (other != null) {
                releaseUpstream(false);
                retryOn(other, "no response, " + silent);
                return tryTimeoutNanos;
            }
        }
        fail(Failure.RESPONSE_TIMEOUT, silent);
        return 0;
    }

    /**
     * Called when nothing was read from the client for {@code nanos}: whether the client is what
     * holds this exchange up, that long. It stopped reading the response, or it stopped sending
     * the request body while the backend could take more.
     */
    boolean clientStalledFor(long nanos) {
        if (finished) {
            return false;
        }
        if (upstreamPaused) {
            return System.nanoTime() - stalledSinceNanos >= nanos;
        }
        if (waitingOnBackend()) {
            return false;
        }
        return bodyPace == null || bodyPace.clientFreeFor(nanos);
    }

    /** Whether the client has left the response unread, its backend paused, for {@code nanos}. */
    boolean responseStalledFor(long nanos) {
        return !finished && upstreamPaused && System.nanoTime() - stalledSinceNanos >= nanos;
    }

    /**
     * The client held this exchange up for {@code idleMs}: a body that stopped arriving before any
     * response was sent gets 408 (nginx's {@code client_body_timeout}); otherwise (it stopped
     * reading the response) the connection is closed.
     */
    void onClientStalled() {
        if (!responseStarted && !requestComplete) {
            fail(Failure.BODY_TIMEOUT, "no body bytes for " + services.timeouts().idleMs() + " ms");
        } else {
            client.close();
        }
    }

    /**
     * True while the exchange waits on the backend rather than on the client: not while a slow
     * client holds back the response, nor while the request body is still coming in and the
     * backend takes it as fast as it arrives.
     */
    boolean waitingOnBackend() {
        if (finished || upstreamPaused || buffering) {
            return false;
        }
        return requestComplete || upstream == null || !upstream.isWritable();
    }

    /**
     * The one way an exchange fails: drops the upstream connection, logs one line (backend faults at
     * WARN, client faults at DEBUG) and then respects the commit point. Before the response head was
     * sent the client gets {@code failure}'s status; after it, the client connection is closed.
     */
    void fail(Failure failure, String detail) {
        if (finished) {
            return;
        }
        finished = true;
        releaseBody();
        releaseUpstream(false);
        if (held.drop()) {
            responseStarted = false; // nothing of the response reached the client: it gets the failure's status
        }
        String backendId = backend == null ? "-" : backend.id();
        // The proxy's own refusals are counted, not logged per request (the budget logs its level).
        boolean clientFault = failure.status.code() < 500 || failure == Failure.SHUTTING_DOWN
                || failure == Failure.OVERLOADED || failure == Failure.UPSTREAM_FULL;
        if (responseStarted) {
            log.warn("[{}] {} {}: {} after the response began (backend {}: {}); closing the client connection",
                    client.channel().id(), method, uri, failure.message, backendId, detail);
            logAccess();
            relay.exchangeEnded(this);
            client.close();
            return;
        }
        status = failure.status.code();
        if (clientFault || failure.status.code() == 503) {
            services.metrics().refused(status);
        }
        if (clientFault) {
            log.debug("[{}] {} {} -> {} {} ({})", client.channel().id(), method, uri, status, failure.message, detail);
        } else {
            log.warn("[{}] {} {} -> {} {} (backend {}: {})", client.channel().id(), method, uri, status, failure.message,
                    backendId, detail);
        }
        logAccess();
        if (!client.channel().isActive()) {
            relay.exchangeEnded(this);
            return;
        }
        // A request without a body has nothing left unread even if its (empty) end is still queued.
        boolean keepOpen = requestComplete || bodyless;
        FullHttpResponse answer = ErrorResponses.response(failure, !keepOpen);
        if (policy != null) {
            policy.decorate(answer.headers(), admission, overTls());
        } else if (services.upstreams().securityHeaders()) {
            SecurityHeaders.apply(answer.headers(), overTls());
        }
        if (admission != null) {
            admission.addRefusalFields(answer.headers());
        }
        ChannelFuture written = client.writeAndFlush(answer);
        if (keepOpen) {
            written.addListener(relay.nextRequestListener());
        } else {
            relay.exchangeEnded(this);
        }
    }

    /**
     * The client shut down its sending side with nothing of this request left unread. A body it had
     * not finished can never end: before any response the exchange fails with 400 (the backend
     * connection, holding an incomplete request, is closed at once instead of waiting out {@code
     * idleMs}); once the backend has answered, its response still reaches the client, and the
     * connection closes after it.
     */
    void onClientInputEnded() {
        if (finished || requestComplete || responseStarted) {
            return;
        }
        fail(Failure.BODY_INCOMPLETE, bytesIn + " body bytes before the client's end of input");
    }

    /** The client connection closed: drop the upstream side; nothing is left to answer. */
    void onClientClosed() {
        if (finished) {
            return;
        }
        finished = true;
        releaseBody();
        releaseUpstream(false);
        held.drop();
        if (!responseStarted) {
            status = 499; // the client closed the connection before the response (nginx's code)
        }
        logAccess();
    }

    // ---------------------------------------------------------------- helpers

    private void releaseBody() {
        if (body != null) {
            body.release();
        }
    }

    private void releaseUpstream(boolean reusable) {
        Channel ch = upstream;
        if (ch == null) {
            return;
        }
        upstream = null;
        upstreamHandler.detach(reusable);
        if (!reusable) {
            ch.close(); // the pool counts closes
        } else {
            // Released after the read in progress is fully decoded: bytes the backend sent beyond
            // this response then reach UpstreamHandler with no exchange attached, which closes the
            // connection, instead of being taken as the answer to the next request.
            UpstreamPool p = pool;
            ch.eventLoop().execute(() -> p.release(ch, true));
        }
    }

    /**
     * RFC 9110 section 9.2.2, or a request with an {@code Idempotency-Key} field (the IETF httpapi
     * draft): one that is not is never sent twice, as the backend may have acted on it before the
     * connection died.
     */
    private boolean isIdempotent() {
        return isIdempotent(request.method()) || request.headers().contains(IDEMPOTENCY_KEY);
    }

    private static boolean isIdempotent(HttpMethod method) {
        return HttpMethod.GET.equals(method) || HttpMethod.HEAD.equals(method) || HttpMethod.OPTIONS.equals(method)
                || HttpMethod.PUT.equals(method) || HttpMethod.DELETE.equals(method) || HttpMethod.TRACE.equals(method);
    }

    private void touch() {
        lastProgressNanos = System.nanoTime();
    }

    /**
     * Counts this exchange among {@code b}'s in flight (and no longer among the one before): from
     * the pick, so that balancers that weigh load see requests still waiting for a connection.
     */
    private void countOn(Backend b) {
        if (counted != b) {
            if (counted != null) {
                counted.exchangeEnded();
            }
            counted = b;
            b.exchangeStarted();
        }
    }

    /** Leaves the upstream's counts of requests and retries in flight, and its backend's, once. */
    private void leaveUpstream() {
        if (counted != null) {
            counted.exchangeEnded();
            counted = null;
        }
        if (ended || group == null) {
            return;
        }
        ended = true;
        group.requestEnded();
        if (retryBudgetHeld) {
            group.retryEnded();
        }
    }

    /** The exchange is over (every way it can end comes here once): counts and the access log line. */
    private void logAccess() {
        leaveUpstream();
        if (admission != null) {
            admission.release();
        }
        int slot = group == null ? 0 : backend != null ? backend.metricsSlot() : group.metricsSlot();
        long endNanos = System.nanoTime();
        long durationNanos = endNanos - startNanos;
        services.metrics().request(slot, group == null ? -1 : group.metricsIndex(), request.method(), status,
                durationNanos, bytesIn, bytesOut);
        AccessLog sink = services.accessLog();
        if (sink != null && sink.enabled()) {
            boolean agent = sink.wantsAgent();
            sink.log(new AccessLog.Entry(AccessLog.wallMillis(endNanos), timed ? requestId() : null,
                    relay.clientAddress(clientAddress), method, uri, protocol, status, bytesIn, bytesOut,
                    group == null ? "-" : group.name(), backend == null ? "-" : backend.id(), retries + 1,
                    TimeUnit.NANOSECONDS.toMillis(durationNanos),
                    timed && connectedNanos != 0 ? TimeUnit.NANOSECONDS.toMillis(connectedNanos - acquireStartNanos) : -1,
                    timed && firstByteNanos != 0 && connectedNanos != 0
                            ? TimeUnit.NANOSECONDS.toMillis(firstByteNanos - connectedNanos) : -1,
                    agent ? request.headers().get(HttpHeaderNames.REFERER) : null,
                    agent ? request.headers().get(HttpHeaderNames.USER_AGENT) : null));
        }
    }

    /**
     * The client as a {@code client_ip} hash key sees it: the socket's address while the client is
     * the peer (no allocation), else the client a trusted proxy named (or a PROXY header did), so
     * the clients behind one load balancer do not all hash alike.
     */
    private SocketAddress hashedClient() {
        SocketAddress socket = client.channel().remoteAddress();
        if (clientAddress == null
                || (socket instanceof InetSocketAddress inet && clientAddress.equals(inet.getAddress()))) {
            return socket;
        }
        return new InetSocketAddress(clientAddress, 0);
    }


    /** The request's client (see {@code trustedProxies}); {@code null} only without an IP peer. */
    private InetAddress clientIp() {
        return clientAddress;
    }

    /** Whether the client's connection is TLS: {@code X-Forwarded-Proto} as the proxy set it. */
    private boolean overTls() {
        return "https".equals(request.headers().get(X_FORWARDED_PROTO));
    }

    /**
     * The request's id: the client's {@code X-Request-Id} when it sent a usable one (1 to 128
     * visible ASCII characters), else a new random one; the same for the backend and the log line.
     */
    private String requestId() {
        if (requestId == null) {
            requestIdKept();
        }
        return requestId;
    }

    /** Sets {@link #requestId}; returns whether it is the client's (or a new one, which the request does not carry yet). */
    private boolean requestIdKept() {
        String given = request.headers().get(X_REQUEST_ID);
        if (given != null && validRequestId(given)) {
            requestId = given;
            return true;
        }
        requestIdReplaced = given != null;
        // 63 random bits and the top one set: always 16 hex digits, without String.format.
        requestId = Long.toHexString(ThreadLocalRandom.current().nextLong() | Long.MIN_VALUE);
        return false;
    }

    private static boolean validRequestId(String id) {
        if (id.isEmpty() || id.length() > 128) {
            return false;
        }
        for (int i = 0; i < id.length(); i++) {
            char c = id.charAt(i);
            if (c <= ' ' || c >= 0x7f) {
                return false;
            }
        }
        return true;
    }
}
