package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseDecoder;
import io.netty.handler.codec.http.HttpStatusClass;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The upstream connection's HTTP/1 codec, in place of Netty's {@code HttpClientCodec}: Netty's
 * request encoder, and Netty's response decoder behind a {@link StrictHttpScanner}, so a response
 * Netty would normalise (loose status-line whitespace, a lower-case version, control bytes in the
 * reason phrase, obs-fold, over-long chunk sizes) fails to decode; the relay answers 502 or cuts the
 * client connection, and drops the backend connection. One handler, so the pipeline still has one
 * "codec" to remove or replace.
 *
 * <p>What it keeps of {@code HttpClientCodec}: the decoder learns whether a response answers a HEAD
 * request (no body, whatever its framing headers say) from a queue of the methods sent, in order;
 * 1xx responses (100 Continue, 103 Early Hints) take no place in it. After a 101 that switches to
 * another protocol the decoder passes bytes through unchecked, as Netty's does. Not kept: CONNECT
 * handling (the proxy never forwards CONNECT) and the missing-response exception at close (the
 * upstream handler already fails the exchange when the channel goes inactive).
 */
public final class StrictHttpClientCodec extends CombinedChannelDuplexHandler<HttpResponseDecoder, HttpRequestEncoder> {
    /** Methods of the requests sent whose final response has not been decoded yet, in order. */
    private final ArrayDeque<HttpMethod> sent = new ArrayDeque<>(2);

    public StrictHttpClientCodec(HttpDecoderConfig config) {
        init(new ResponseDecoder(config), new RequestEncoder());
    }

    private final class RequestEncoder extends HttpRequestEncoder {
        @Override
        protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
            if (msg instanceof HttpRequest request) {
                sent.addLast(request.method());
            }
            super.encode(ctx, msg, out);
        }
    }

    private final class ResponseDecoder extends HttpResponseDecoder implements StrictHttpScanner.Owner {
        private final StrictHttpScanner scanner = new StrictHttpScanner(false, this);

        ResponseDecoder(HttpDecoderConfig config) {
            super(config);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            int from = out.size();
            scanner.decode(ctx, in, out);
            for (int i = from; i < out.size(); i++) {
                if (out.get(i) instanceof HttpResponse response && response.decoderResult().isSuccess()
                        && isSwitchingToNonHttp1Protocol(response)) {
                    scanner.passThrough(); // Netty's decoder hands on raw bytes from here on
                }
            }
        }

        @Override
        protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            scanner.decodeLast(ctx, in, out);
        }

        @Override
        protected boolean isContentAlwaysEmpty(HttpMessage msg) {
            HttpResponse response = (HttpResponse) msg;
            if (response.status().codeClass() == HttpStatusClass.INFORMATIONAL) {
                return super.isContentAlwaysEmpty(msg); // answers no request on its own
            }
            HttpMethod method = sent.pollFirst();
            return HttpMethod.HEAD.equals(method) || super.isContentAlwaysEmpty(msg);
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
}
