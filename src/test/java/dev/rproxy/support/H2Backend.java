package dev.rproxy.support;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2GoAwayFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.ssl.ApplicationProtocolConfig;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import javax.net.ssl.KeyManagerFactory;

/**
 * An HTTP/2 backend built on Netty's frame codec: h2c with prior knowledge, or h2 over TLS chosen
 * by ALPN. It answers by path, with frames where they are the point:
 * <ul>
 *   <li>any path: {@code 200} and a text line naming what arrived (method, path, authority, scheme,
 *       {@code te}, body bytes, request trailers);</li>
 *   <li>{@code /trailers}: a body and then trailer fields;</li>
 *   <li>{@code /grpc}: a gRPC-shaped answer (the request body echoed, {@code grpc-status} in the
 *       trailers), or a trailers-only error when the request lacks {@code te: trailers};</li>
 *   <li>{@code /trailers-only}: one HEADERS frame with END_STREAM carrying {@code grpc-status};</li>
 *   <li>{@code /slow?ms=N}: the default answer after N ms;</li>
 *   <li>{@code /big?bytes=N}: N bytes, written as the stream's window allows;</li>
 *   <li>{@code /refuse-once}: the first such stream is reset with REFUSED_STREAM, later ones answered;</li>
 *   <li>{@code /goaway-once}: the first such stream gets GOAWAY with last stream id 0, and the
 *       connection closes; later ones are answered.</li>
 *   <li>{@code /goaway-slow}: a GOAWAY that lets this stream finish, 300 ms after it arrived, and
 *       the answer after 1500 ms.</li>
 * </ul>
 */
public final class H2Backend implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final Channel server;
    private final AtomicInteger connections = new AtomicInteger();
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicInteger maxActive = new AtomicInteger();
    private final Map<String, AtomicInteger> requestsByPath = new ConcurrentHashMap<>();
    private final AtomicBoolean refused = new AtomicBoolean();
    private final AtomicBoolean wentAway = new AtomicBoolean();

    /** h2c with prior knowledge, at most {@code maxConcurrentStreams} streams per connection. */
    public H2Backend(long maxConcurrentStreams) throws Exception {
        this(null, maxConcurrentStreams);
    }

    /** h2 over TLS with {@code identity} when it is not null, else h2c. */
    public H2Backend(KeyManagerFactory identity, long maxConcurrentStreams) throws Exception {
        SslContext tls = identity == null ? null : SslContextBuilder.forServer(identity)
                .applicationProtocolConfig(new ApplicationProtocolConfig(ApplicationProtocolConfig.Protocol.ALPN,
                        ApplicationProtocolConfig.SelectorFailureBehavior.NO_ADVERTISE,
                        ApplicationProtocolConfig.SelectedListenerFailureBehavior.ACCEPT, ApplicationProtocolNames.HTTP_2))
                .build();
        server = new ServerBootstrap().group(group).channel(NioServerSocketChannel.class)
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        connections.incrementAndGet();
                        open.incrementAndGet();
                        ch.closeFuture().addListener(f -> open.decrementAndGet());
                        if (tls != null) {
                            ch.pipeline().addLast(tls.newHandler(ch.alloc()));
                        }
                        ch.pipeline().addLast(Http2FrameCodecBuilder.forServer()
                                .initialSettings(Http2Settings.defaultSettings().maxConcurrentStreams(maxConcurrentStreams))
                                .build());
                        ch.pipeline().addLast(new Http2MultiplexHandler(new ChannelInitializer<Http2StreamChannel>() {
                            @Override
                            protected void initChannel(Http2StreamChannel stream) {
                                stream.pipeline().addLast(new StreamHandler());
                            }
                        }));
                    }
                })
                .bind("127.0.0.1", 0).sync().channel();
    }

    public int port() {
        return ((java.net.InetSocketAddress) server.localAddress()).getPort();
    }

    /** Connections accepted so far. */
    public int connections() {
        return connections.get();
    }

    /** Connections open now. */
    public int openConnections() {
        return open.get();
    }

    /** The most streams that were being answered at once. */
    public int maxConcurrent() {
        return maxActive.get();
    }

    /** Streams whose request arrived for {@code path} (the path without its query). */
    public int requests(String path) {
        AtomicInteger n = requestsByPath.get(path);
        return n == null ? 0 : n.get();
    }

    @Override
    public void close() {
        server.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private final class StreamHandler extends ChannelInboundHandlerAdapter {
        private Http2Headers request;
        private Http2Headers trailers;
        private long bytes;
        private final java.io.ByteArrayOutputStream body = new java.io.ByteArrayOutputStream();
        private boolean counted;

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                boolean end = false;
                if (msg instanceof Http2HeadersFrame headers) {
                    if (request == null) {
                        request = headers.headers();
                    } else {
                        trailers = headers.headers();
                    }
                    end = headers.isEndStream();
                } else if (msg instanceof Http2DataFrame data) {
                    bytes += data.content().readableBytes();
                    if (body.size() < 1 << 20) {
                        data.content().getBytes(data.content().readerIndex(), body, data.content().readableBytes());
                    }
                    end = data.isEndStream();
                }
                if (end) {
                    answer(ctx);
                }
            } catch (java.io.IOException e) {
                throw new IllegalStateException(e);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            if (counted) {
                active.decrementAndGet();
            }
        }

        private void answer(ChannelHandlerContext ctx) {
            QueryStringDecoder uri = new QueryStringDecoder(request.path().toString());
            String path = uri.path();
            requestsByPath.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
            counted = true;
            maxActive.accumulateAndGet(active.incrementAndGet(), Math::max);
            switch (path) {
                case "/refuse-once" -> {
                    if (refused.compareAndSet(false, true)) {
                        ctx.writeAndFlush(new DefaultHttp2ResetFrame(Http2Error.REFUSED_STREAM));
                        return;
                    }
                    text(ctx, describe());
                }
                case "/goaway-once" -> {
                    if (wentAway.compareAndSet(false, true)) {
                        Channel parent = ctx.channel().parent();
                        Http2FrameCodec codec = parent.pipeline().get(Http2FrameCodec.class);
                        codec.goAway(parent.pipeline().context(codec), 0, Http2Error.NO_ERROR.code(), Unpooled.EMPTY_BUFFER,
                                parent.newPromise());
                        parent.flush();
                        parent.close();
                        return;
                    }
                    text(ctx, describe());
                }
                case "/goaway-slow" -> {
                    // GOAWAY that lets this stream finish (its id is the last one), 300 ms after it
                    // arrived; the answer 1500 ms after it arrived.
                    Channel parent = ctx.channel().parent();
                    String text = describe();
                    ctx.executor().schedule(() -> parent.writeAndFlush(new DefaultHttp2GoAwayFrame(Http2Error.NO_ERROR)),
                            300, TimeUnit.MILLISECONDS);
                    ctx.executor().schedule(() -> text(ctx, text), 1500, TimeUnit.MILLISECONDS);
                }
                case "/trailers" -> {
                    ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                            .set("content-type", "text/plain")));
                    ctx.write(new DefaultHttp2DataFrame(Unpooled.copiedBuffer("body before trailers\n", StandardCharsets.UTF_8)));
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("x-checksum", "abc123")
                            .set("grpc-status", "0"), true));
                }
                case "/grpc" -> {
                    if (request.get("te") == null || !"trailers".contentEquals(request.get("te"))) {
                        ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                                .set("content-type", "application/grpc").set("grpc-status", "13")
                                .set("grpc-message", "missing te: trailers"), true));
                        return;
                    }
                    ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                            .set("content-type", "application/grpc")));
                    ctx.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(body.toByteArray())));
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().set("grpc-status", "0")
                            .set("grpc-message", "OK"), true));
                }
                case "/trailers-only" -> ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                        .set("content-type", "application/grpc").set("grpc-status", "5")
                        .set("grpc-message", "no such thing"), true));
                case "/slow" -> {
                    long ms = Long.parseLong(uri.parameters().get("ms").get(0));
                    String text = describe();
                    ctx.executor().schedule(() -> text(ctx, text), ms, TimeUnit.MILLISECONDS);
                }
                case "/big" -> {
                    long n = Long.parseLong(uri.parameters().get("bytes").get(0));
                    ctx.writeAndFlush(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                            .set("content-length", Long.toString(n))));
                    new BigBody(ctx, n).writeMore();
                }
                default -> text(ctx, describe());
            }
        }

        private String describe() {
            return "method=" + request.method() + " path=" + request.path() + " authority=" + request.authority()
                    + " scheme=" + request.scheme() + " te=" + request.get("te") + " bytes=" + bytes
                    + " trailers=" + (trailers == null ? "none" : trailers.get("x-checksum")) + " protocol=h2\n";
        }

        private void text(ChannelHandlerContext ctx, String text) {
            byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
            ctx.write(new DefaultHttp2HeadersFrame(new DefaultHttp2Headers().status("200")
                    .set("content-type", "text/plain").set("content-length", Integer.toString(bytes.length))));
            ctx.writeAndFlush(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(bytes), true));
        }
    }

    /** Writes a large body chunk by chunk while the stream is writable (its window open). */
    private static final class BigBody {
        private static final int CHUNK = 16 * 1024;
        private final ChannelHandlerContext ctx;
        private long left;

        BigBody(ChannelHandlerContext ctx, long bytes) {
            this.ctx = ctx;
            this.left = bytes;
        }

        void writeMore() {
            while (left > 0 && ctx.channel().isWritable()) {
                int n = (int) Math.min(CHUNK, left);
                left -= n;
                ByteBuf chunk = ctx.alloc().buffer(n).writeZero(n);
                ctx.write(new DefaultHttp2DataFrame(chunk, left == 0));
            }
            ctx.flush();
            if (left > 0) {
                ctx.channel().pipeline().addLast(new ChannelInboundHandlerAdapter() {
                    @Override
                    public void channelWritabilityChanged(ChannelHandlerContext c) {
                        if (c.channel().isWritable()) {
                            c.pipeline().remove(this);
                            writeMore();
                        }
                    }
                });
            }
        }
    }
}
