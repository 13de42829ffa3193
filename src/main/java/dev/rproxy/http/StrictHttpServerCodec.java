package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The client connection's HTTP/1 codec, in place of Netty's {@code HttpServerCodec}: Netty's
 * request decoder behind a {@link StrictHttpScanner}, so a request Netty would normalise (obs-fold,
 * extra bytes before the request line, loose request-line whitespace, a lower-case version,
 * whitespace around {@code chunked}, over-long chunk sizes) fails to decode instead, and Netty's
 * response encoder. One handler, so the pipeline still has one "codec" to remove or replace.
 *
 * <p>What it keeps of {@code HttpServerCodec}: the encoder learns which responses answer a HEAD
 * request (no body, whatever the framing headers say) from a queue of the decoded requests, in
 * order; 1xx responses take no place in it. Pipelining is bounded as there: after {@link
 * #MAX_PIPELINED} requests without a response, the next one decodes as a failure and nothing after
 * it is read. A request with both {@code Content-Length} and chunked framing always fails here,
 * whatever Netty's RFC 9112 switch says. Not kept: CONNECT handling (the proxy refuses CONNECT) and
 * the upgrade hooks (the proxy does not upgrade client connections).
 */
public final class StrictHttpServerCodec extends CombinedChannelDuplexHandler<HttpRequestDecoder, HttpResponseEncoder> {
    /** Requests decoded and not yet answered, at most (Netty's default pipeline depth). */
    static final int MAX_PIPELINED = 128;

    /** For each request decoded and not answered yet, in order: whether it is a HEAD request. */
    private final ArrayDeque<Boolean> unanswered = new ArrayDeque<>();

    public StrictHttpServerCodec(HttpDecoderConfig config) {
        init(new RequestDecoder(config), new ResponseEncoder());
    }

    /**
     * Once the client's input has ended nothing more can be read, and a read request must not reach
     * the transport: on epoll it fails there ({@code epoll_ctl}: no such file), and the connection
     * would close with requests the client pipelined before its end still unanswered. Reads asked
     * for then only drain what the handlers behind this one hold.
     */
    @Override
    public void read(ChannelHandlerContext ctx) throws Exception {
        if (ctx.channel() instanceof DuplexChannel duplex && duplex.isInputShutdown()) {
            return;
        }
        super.read(ctx);
    }

    private final class RequestDecoder extends HttpRequestDecoder implements StrictHttpScanner.Owner {
        private final StrictHttpScanner scanner = new StrictHttpScanner(true, this);

        RequestDecoder(HttpDecoderConfig config) {
            super(config);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            int from = out.size();
            scanner.decode(ctx, in, out);
            for (int i = from; i < out.size(); i++) {
                if (out.get(i) instanceof HttpRequest request) {
                    if (unanswered.size() >= MAX_PIPELINED) {
                        refuseFrom(i, request, in, out);
                        return;
                    }
                    unanswered.addLast(HttpMethod.HEAD.equals(request.method()));
                }
            }
        }

        /** Fails {@code request}, drops what was decoded after it and discards all further input. */
        private void refuseFrom(int index, HttpRequest request, ByteBuf in, List<Object> out) {
            request.setDecoderResult(DecoderResult.failure(
                    new StrictHttpScanner.MalformedHttpException("more than " + MAX_PIPELINED + " pipelined requests")));
            while (out.size() > index + 1) {
                ReferenceCountUtil.release(out.remove(out.size() - 1));
            }
            scanner.discardFromNowOn();
            in.skipBytes(in.readableBytes());
            unanswered.addLast(false); // the refusal answers it
        }

        @Override
        protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            scanner.decodeLast(ctx, in, out);
        }

        @Override
        protected void handleTransferEncodingChunkedWithContentLength(HttpMessage message) {
            throw StrictHttpScanner.lengthAndChunked();
        }

        @Override
        public void nettyDecode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            super.decode(ctx, in, out);
        }

        @Override
        public void nettyDecodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            super.decodeLast(ctx, in, out);
        }

        @Override
        public HttpMessage invalidHead() {
            return createInvalidMessage();
        }
    }

    private final class ResponseEncoder extends HttpResponseEncoder {
        @Override
        protected boolean isContentAlwaysEmpty(HttpResponse msg) {
            if (msg.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
                return super.isContentAlwaysEmpty(msg); // answers no request on its own
            }
            Boolean head = unanswered.pollFirst();
            return Boolean.TRUE.equals(head) || super.isContentAlwaysEmpty(msg);
        }
    }
}
