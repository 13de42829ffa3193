package dev.rproxy.server;

import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.SecurityConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.http.HeaderSanitizingHandler;
import dev.rproxy.http.RequestHeadDeadlineHandler;
import dev.rproxy.http.StrictHttpServerCodec;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.proxy.RelayHandler;
import dev.rproxy.proxy.RelayServices;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;

/**
 * Pipeline of an accepted client connection:
 * {@code RequestHeadDeadlineHandler -> StrictHttpServerCodec -> IdleStateHandler -> FlowControlHandler ->
 * HeaderSanitizingHandler -> RelayHandler}. The proxy's own endpoints are answered by the relay,
 * in request order (see {@link dev.rproxy.proxy.LocalResponder}). The connection cap is applied
 * before a connection gets here, on the listening channel ({@link ConnectionCap}).
 *
 * <p>{@code FlowControlHandler} sits right after the codec because turning autoRead off does not
 * stop messages the codec has already decoded from one read; it holds them until asked.
 */
final class ServerChannelInitializer extends ChannelInitializer<Channel> {
    static final int MAX_CHUNK_SIZE = 64 * 1024;

    private final RelayServices services;
    private final LimitsConfig limits;
    private final TimeoutsConfig timeouts;
    private final ChannelGroup clients;
    private final SecurityConfig security;

    ServerChannelInitializer(RelayServices services, LimitsConfig limits,
            TimeoutsConfig timeouts, SecurityConfig security, ChannelGroup clients) {
        this.security = security;
        this.services = services;
        this.limits = limits;
        this.timeouts = timeouts;
        this.clients = clients;
    }

    @Override
    protected void initChannel(Channel ch) {
        clients.add(ch);
        BufferBudget budget = services.budget();
        if (budget.constrained()) {
            ch.config().setWriteBufferWaterMark(budget.waterMark());
        }
        HttpDecoderConfig decoder = new HttpDecoderConfig()
                .setMaxInitialLineLength(limits.maxRequestLineBytes())
                .setMaxHeaderSize(limits.maxHeaderBytes())
                .setMaxChunkSize(MAX_CHUNK_SIZE);
        ChannelPipeline p = ch.pipeline();
        RequestHeadDeadlineHandler headDeadline = new RequestHeadDeadlineHandler(timeouts.requestHeadMs());
        p.addLast("headDeadline", headDeadline);
        p.addLast("codec", new StrictHttpServerCodec(decoder));
        // Before FlowControlHandler, which holds back read-complete events while it queues; reader
        // idleness only: a writer or all-idle timer would replace every void write promise
        // with a real one (an allocation per chunk); the relay judges a client that stops reading.
        p.addLast("idle", new IdleStateHandler(timeouts.idleMs(), 0, 0, TimeUnit.MILLISECONDS));
        p.addLast("flow", new FlowControlHandler());
        HeaderSanitizingHandler sanitizer = new HeaderSanitizingHandler("http", limits.maxHeaderCount(), limits.maxBodyBytes(),
                security, headDeadline);
        p.addLast("sanitizer", sanitizer);
        p.addLast("relay", new RelayHandler(services, sanitizer));
    }
}
