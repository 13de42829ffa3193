package dev.rproxy.proxy;

import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.http.StrictHttpClientCodec;
import dev.rproxy.http2.BackendStreamMessages;
import dev.rproxy.memory.BufferBudget;
import io.netty.channel.Channel;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.group.ChannelGroup;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;

/**
 * Builds the pipeline of an upstream connection for the relay; the pool that opens the connection
 * knows nothing of what runs on it.
 *
 * <p>Pipeline: {@code StrictHttpClientCodec -> UpstreamHandler}; the codec also times the
 * connection's idleness ({@code pool.idleTimeoutMs}).
 *
 * <p>No {@code FlowControlHandler} here, unlike the client side: when a slow client pauses this
 * channel, the messages already decoded from the current read (at most one read buffer, 64 KiB) are
 * still written to the client, which bounds the overshoot. Holding them back instead would lose them
 * when the backend closes right after its last byte: a closing channel discards what a flow control
 * handler still queues, and the client would get a truncated response.
 *
 * <p>autoRead stays on except while a slow client pauses the channel: while it sits idle in the
 * pool, a close or stray bytes from the backend are seen at once and the channel is dropped instead
 * of handed to the next request; and no exchange pays for switching it on and off.
 */
public final class UpstreamChannelInitializer extends ChannelInitializer<Channel> {
    private final PoolConfig pool;
    private final LimitsConfig limits;
    private final BufferBudget budget;
    private final ChannelGroup channels;

    /**
     * @param channels every upstream channel, so that a change of memory pressure can reach them
     */
    public UpstreamChannelInitializer(PoolConfig pool, LimitsConfig limits, BufferBudget budget, ChannelGroup channels) {
        this.pool = pool;
        this.limits = limits;
        this.budget = budget;
        this.channels = channels;
    }

    @Override
    protected void initChannel(Channel ch) {
        channels.add(ch);
        if (budget.constrained()) {
            ch.config().setWriteBufferWaterMark(budget.waterMark());
        }
        ChannelPipeline p = ch.pipeline();
        p.addLast("codec", new StrictHttpClientCodec(Math.max(limits.maxRequestLineBytes(), 8192),
                Math.max(limits.maxHeaderBytes(), 16384), pool.idleTimeoutMs()));
        p.addLast("upstream", new UpstreamHandler());
    }

    /**
     * The pipeline of one stream of an HTTP/2 connection to a backend: {@code
     * Http2StreamFrameToHttpObjectCodec -> BackendStreamMessages -> UpstreamHandler}, so the exchange
     * reads and writes the same messages as on an HTTP/1 connection. A stream carries one exchange;
     * its connection's idleness is the pool's business.
     */
    public static ChannelInitializer<Channel> streams() {
        return new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ChannelPipeline p = ch.pipeline();
                p.addLast("h2http", new Http2StreamFrameToHttpObjectCodec(false, true));
                p.addLast("h2messages", new BackendStreamMessages());
                p.addLast("upstream", new UpstreamHandler());
            }
        };
    }
}
