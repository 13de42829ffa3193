package dev.rproxy.http2;

import dev.rproxy.http.IdleClients;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownReadComplete;
import io.netty.handler.codec.http2.Http2ConnectionAdapter;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2Stream;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamFrameToHttpObjectCodec;
import io.netty.handler.flow.FlowControlHandler;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * HTTP/2 on an accepted connection (after ALPN chose {@code h2}, or a plaintext connection opened
 * with the HTTP/2 preface): Netty's frame codec and multiplexer, and on each stream's child channel
 * the handlers an HTTP/1 request goes through, so a stream is one exchange with the same rules,
 * balancing, pool leases, timeouts and access log.
 *
 * <pre>
 * connection: Http2FrameCodec -> idle check -> Http2MultiplexHandler
 * stream:     Http2StreamFrameToHttpObjectCodec -> StreamMessages -> FlowControlHandler
 *             -> IdleStateHandler -> [the request handlers: sanitizer, relay]
 * </pre>
 *
 * <p>Backpressure: a stream whose exchange pauses client reads (its backend connection is full)
 * stops reading its frames, and its flow-control window is not opened again until the exchange
 * reads on, so that client's bytes wait in the client, and the connection's other streams go on. A
 * stream's child channel is unwritable while its send window is used up, which pauses reading that
 * stream's backend connection, never the connection's other streams.
 *
 * <p>Limits: at most {@code maxConcurrentStreams} streams at once, a field section of at most
 * {@code maxHeaderBytes} (as for HTTP/1), and Netty's defences against floods of control frames
 * (queued SETTINGS and PING acknowledgements), of resets received or caused (CVE-2023-44487 and
 * the "made you reset" variant), of CONTINUATION frames and of empty DATA frames: abuse ends the
 * connection with GOAWAY. A connection with no open stream is closed after {@code idleMs}, and
 * may be closed before that to make room at the connection cap ({@link IdleClients}). Closing it
 * sends GOAWAY and lets streams in flight finish for up to {@code graceMs}.
 */
public final class Http2ServerConnection {
    public static final int MAX_CONCURRENT_STREAMS = 100;

    private Http2ServerConnection() {
    }

    /**
     * Adds HTTP/2 to {@code pipeline}; {@code streamHandlers} adds to each stream's pipeline the
     * handlers that take its request.
     */
    public static void install(ChannelPipeline pipeline, int maxHeaderBytes, long idleMs, long graceMs,
            IdleClients idleClients, Consumer<ChannelPipeline> streamHandlers) {
        Http2Settings settings = Http2Settings.defaultSettings()
                .maxConcurrentStreams(MAX_CONCURRENT_STREAMS)
                .maxHeaderListSize(maxHeaderBytes);
        Http2FrameCodec codec = Http2FrameCodecBuilder.forServer()
                .initialSettings(settings)
                .validateHeaders(true)
                .gracefulShutdownTimeoutMillis(graceMs)
                .build();
        // Responses of many streams come back in one turn of the event loop, each from its own
        // backend connection: their flushes become one, so the connection writes (and, over TLS,
        // seals records) once per turn rather than once per stream.
        pipeline.addLast("h2flush", new FlushConsolidationHandler(FlushConsolidationHandler.DEFAULT_EXPLICIT_FLUSH_AFTER_FLUSHES, true));
        pipeline.addLast("h2", codec);
        pipeline.addLast("h2idle", new IdleStateHandler(idleMs, 0, 0, TimeUnit.MILLISECONDS));
        pipeline.addLast("h2idleClose", new CloseWhenIdle(codec, idleClients));
        pipeline.addLast("h2streams", new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
            @Override
            protected void initChannel(Http2StreamChannel stream) {
                ChannelPipeline p = stream.pipeline();
                p.addLast("h2http", new Http2StreamFrameToHttpObjectCodec(true, true));
                p.addLast("h2messages", new StreamMessages());
                p.addLast("flow", new FlowControlHandler());
                p.addLast("idle", new IdleStateHandler(idleMs, 0, 0, TimeUnit.MILLISECONDS));
                streamHandlers.accept(p);
            }
        }));
    }

    /** Whether {@code channel} is one stream of an HTTP/2 connection. */
    public static boolean isStream(Channel channel) {
        return channel instanceof Http2StreamChannel;
    }

    /**
     * A connection with no open stream: closed (with GOAWAY) when it has read nothing for idleMs,
     * and meanwhile one of the loop's {@link IdleClients}, which the connection cap may close to
     * make room, as an HTTP/1 connection between requests. Any connection is closed when the
     * client shuts down its side.
     */
    private static final class CloseWhenIdle extends ChannelInboundHandlerAdapter {
        private final Http2FrameCodec codec;
        private final IdleClients idleClients;
        private ChannelHandlerContext ctx;
        private final IdleClients.Entry entry = new IdleClients.Entry() {
            @Override
            protected void closeIdle() {
                ctx.close();
            }
        };

        CloseWhenIdle(Http2FrameCodec codec, IdleClients idleClients) {
            this.codec = codec;
            this.idleClients = idleClients;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            this.ctx = ctx;
            idleClients.add(entry); // until its first stream
            codec.connection().addListener(new Http2ConnectionAdapter() {
                @Override
                public void onStreamActive(Http2Stream stream) {
                    entry.leave();
                }

                @Override
                public void onStreamClosed(Http2Stream stream) {
                    if (codec.connection().numActiveStreams() == 0 && ctx.channel().isActive()) {
                        idleClients.add(entry);
                    }
                }
            });
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            entry.leave();
            ctx.fireChannelInactive();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                if (codec.connection().numActiveStreams() == 0) {
                    ctx.close();
                }
                return;
            }
            ctx.fireUserEventTriggered(evt);
            if (evt == ChannelInputShutdownReadComplete.INSTANCE) {
                // The client closed its side (client channels allow half-closure, for HTTP/1):
                // it sends nothing more, not even the window updates or acknowledgements the
                // connection needs. Closed now, gracefully: streams in flight get graceMs.
                ctx.close();
            }
        }
    }
}
