package dev.rproxy.server;

import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.http.HeaderSanitizingHandler;
import dev.rproxy.http.StrictHttpServerCodec;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.proxy.RelayHandler;
import dev.rproxy.proxy.Snapshot;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.flow.FlowControlHandler;

/**
 * Pipeline of an accepted client connection:
 * {@code [SslHandler ->] StrictHttpServerCodec -> FlowControlHandler -> HeaderSanitizingHandler -> RelayHandler}
 * (the {@code SslHandler} on a TLS listener, put in place by an {@code SniHandler} once the ClientHello
 * has named the host).
 * The codec also keeps the connection's two read clocks, the request-head deadline and reader
 * idleness, one timer each. The proxy's own endpoints are answered by the relay,
 * in request order (see {@link dev.rproxy.proxy.LocalResponder}). The connection cap is applied
 * before a connection gets here, on the listening channel ({@link ConnectionCap}).
 *
 * <p>{@code FlowControlHandler} sits right after the codec because turning autoRead off does not
 * stop messages the codec has already decoded from one read; it holds them until asked.
 */
final class ServerChannelInitializer extends ChannelInitializer<Channel> {
    private final Snapshot.Current snapshots;
    private final ChannelGroup clients;
    private final String scheme;
    /** {@code null} on a plaintext listener. */
    private final TlsContexts tls;

    /**
     * @param snapshots the settings in force: a connection takes its limits and deadlines from the
     *     snapshot current when it is accepted, each exchange from the one current at its request
     */
    ServerChannelInitializer(Snapshot.Current snapshots, ChannelGroup clients, String scheme, TlsContexts tls) {
        this.snapshots = snapshots;
        this.clients = clients;
        this.scheme = scheme;
        this.tls = tls;
    }

    @Override
    protected void initChannel(Channel ch) {
        clients.add(ch);
        Snapshot snapshot = snapshots.get();
        LimitsConfig limits = snapshot.limits();
        TimeoutsConfig timeouts = snapshot.timeouts();
        BufferBudget budget = snapshot.budget();
        if (budget.constrained()) {
            ch.config().setWriteBufferWaterMark(budget.waterMark());
        }
        ChannelPipeline p = ch.pipeline();
        if (tls != null) {
            // Replaced by the SslHandler of the certificate the ClientHello asks for; the handshake
            // gets the time a request head gets.
            p.addLast("tls", tls.newHandler(timeouts.requestHeadMs()));
        }
        p.addLast("codec", new StrictHttpServerCodec(limits.maxRequestLineBytes(), limits.maxHeaderBytes(),
                timeouts.requestHeadMs(), timeouts.idleMs()));
        p.addLast("flow", new FlowControlHandler());
        HeaderSanitizingHandler sanitizer = new HeaderSanitizingHandler(scheme, limits.maxHeaderCount(), limits.maxBodyBytes(),
                snapshot.security());
        p.addLast("sanitizer", sanitizer);
        p.addLast("relay", new RelayHandler(snapshots, sanitizer));
    }
}
