package dev.rproxy.server;

import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.ListenConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.http.HeaderSanitizingHandler;
import dev.rproxy.http.StrictHttpServerCodec;
import dev.rproxy.http2.Http2ServerConnection;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.proxy.RelayHandler;
import dev.rproxy.proxy.Snapshot;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.flow.FlowControlHandler;

/**
 * Pipeline of an accepted client connection. HTTP/1.1:
 * {@code [SslHandler ->] StrictHttpServerCodec -> FlowControlHandler -> HeaderSanitizingHandler -> RelayHandler}
 * (the {@code SslHandler} on a TLS listener, put in place by an {@code SniHandler} once the ClientHello
 * has named the host). The codec also keeps the connection's two read clocks, the request-head
 * deadline and reader idleness, one timer each. The proxy's own endpoints are answered by the relay,
 * in request order (see {@link dev.rproxy.proxy.LocalResponder}). The connection cap is applied
 * before a connection gets here, on the listening channel ({@link ConnectionCap}).
 *
 * <p>HTTP/2 ({@code h2} chosen by ALPN on a TLS listener, or {@code h2c} with prior knowledge on a
 * plaintext one): {@link Http2ServerConnection}, whose streams each get a sanitizer and a relay of
 * their own. Until the protocol is known, {@link ProtocolByAlpn} or {@link PrefaceDetector} holds
 * the place of the rest.
 *
 * <p>{@code FlowControlHandler} sits right after the codec because turning autoRead off does not
 * stop messages the codec has already decoded from one read; it holds them until asked.
 *
 * <p>On a {@code proxyProtocol} listener every connection starts with a PROXY header, read by
 * {@code HAProxyMessageDecoder -> }{@link ProxyHeaderHandler} in front of all of the above, which
 * both leave once it is read; so TLS, ALPN and the HTTP/2 preface see the bytes behind it.
 */
final class ServerChannelInitializer extends ChannelInitializer<Channel> {
    private final Snapshot.Current snapshots;
    private final ChannelGroup clients;
    private final ListenConfig listener;
    /** {@code null} on a plaintext listener. */
    private final TlsContexts tls;
    private final long graceMs;
    /** On a {@code proxyProtocol} listener with a per-client limit; else {@code null}. */
    private final ClientConnections perClient;

    /**
     * @param snapshots the settings in force: a connection takes its limits and deadlines from the
     *     snapshot current when it is accepted, each exchange from the one current at its request
     * @param graceMs   how long an HTTP/2 connection closing at shutdown lets its streams finish
     * @param perClient the per-client connection limit where this initializer counts it: after a
     *     PROXY header ({@code null} elsewhere, where the connection cap counts it at accept)
     */
    ServerChannelInitializer(Snapshot.Current snapshots, ChannelGroup clients, ListenConfig listener, TlsContexts tls,
            long graceMs, ClientConnections perClient) {
        this.snapshots = snapshots;
        this.clients = clients;
        this.listener = listener;
        this.tls = tls;
        this.graceMs = graceMs;
        this.perClient = perClient;
    }

    @Override
    protected void initChannel(Channel ch) {
        clients.add(ch);
        Snapshot snapshot = snapshots.get();
        BufferBudget budget = snapshot.budget();
        if (budget.constrained()) {
            ch.config().setWriteBufferWaterMark(budget.waterMark());
        }
        ChannelPipeline p = ch.pipeline();
        long headMs = snapshot.timeouts().requestHeadMs();
        if (listener.proxyProtocol()) {
            p.addLast("proxyDecoder", ProxyHeaderHandler.decoder());
            p.addLast("proxyHeader", new ProxyHeaderHandler(headMs, perClient));
        }
        if (tls != null) {
            // Replaced by the SslHandler of the certificate the ClientHello asks for; the handshake
            // gets the time a request head gets.
            p.addLast("tls", tls.newHandler(headMs));
            p.addLast("tlsCount", new HandshakeCounter(snapshot.metrics()));
            if (listener.protocols().contains(ListenConfig.H2)) {
                p.addLast("alpn", new ProtocolByAlpn(this::http1, this::http2));
                return;
            }
        } else if (listener.protocols().contains(ListenConfig.H2C)) {
            p.addLast("preface", new PrefaceDetector(this::http1, this::http2, headMs));
            return;
        }
        http1(p);
    }

    private void http1(ChannelPipeline p) {
        Snapshot snapshot = snapshots.get();
        LimitsConfig limits = snapshot.limits();
        TimeoutsConfig timeouts = snapshot.timeouts();
        p.addLast("codec", new StrictHttpServerCodec(limits.maxRequestLineBytes(), limits.maxHeaderBytes(),
                timeouts.requestHeadMs(), timeouts.idleMs()));
        p.addLast("flow", new FlowControlHandler());
        requestHandlers(p, snapshot);
    }

    private void http2(ChannelPipeline p) {
        Snapshot snapshot = snapshots.get();
        Http2ServerConnection.install(p, snapshot.limits().maxHeaderBytes(), snapshot.timeouts().idleMs(), graceMs,
                snapshot.idleClients().get(p.channel().eventLoop()), stream -> requestHandlers(stream, snapshots.get()));
    }

    /** What takes the requests of one HTTP/1 connection or one HTTP/2 stream. */
    private void requestHandlers(ChannelPipeline p, Snapshot snapshot) {
        LimitsConfig limits = snapshot.limits();
        HeaderSanitizingHandler sanitizer = new HeaderSanitizingHandler(listener, limits.maxHeaderCount(),
                snapshot.upstreams().router().largestBodyLimit(limits.maxBodyBytes()), snapshot.security(),
                snapshot.clientIdentity(), snapshot.metrics(), snapshot.upstreams().securityHeaders());
        p.addLast("sanitizer", sanitizer);
        p.addLast("relay", new RelayHandler(snapshots, sanitizer));
    }
}
