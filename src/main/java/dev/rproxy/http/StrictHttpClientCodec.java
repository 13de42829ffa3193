package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestEncoder;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The upstream connection's HTTP/1 codec, in place of Netty's {@code HttpClientCodec}: Netty's
 * request encoder, and the {@link StrictHttpDecoder} for responses, so a response a lenient parser
 * would normalise (loose status-line whitespace, a lower-case version, control bytes in the
 * reason phrase, obs-fold, over-long chunk sizes) fails to decode; the relay answers 502 or cuts the
 * client connection, and drops the backend connection. One handler, so the pipeline still has one
 * "codec" to remove or replace.
 *
 * <p>What it keeps of {@code HttpClientCodec}: the decoder learns whether a response answers a HEAD
 * request (no body, whatever its framing headers say) from a queue of the methods sent, in order;
 * 1xx responses (100 Continue, 103 Early Hints) take no place in it. After a 101 that switches to
 * another protocol the decoder passes bytes through unchecked. Not kept: CONNECT
 * handling (the proxy never forwards CONNECT) and the missing-response exception at close (the
 * upstream handler already fails the exchange when the channel goes inactive).
 */
public final class StrictHttpClientCodec extends CombinedChannelDuplexHandler<StrictHttpDecoder, HttpRequestEncoder> {
    private static final HttpResponseStatus UNKNOWN_STATUS = new HttpResponseStatus(999, "Unknown");

    /** Methods of the requests sent whose final response has not been decoded yet, in order. */
    private final ArrayDeque<HttpMethod> sent = new ArrayDeque<>(2);

    /**
     * @param maxLineBytes   the longest status line, CRLF not counted
     * @param maxHeaderBytes the largest field section
     * @param idleMs         nothing read for this long fires a reader-idle event (the pool closes
     *                       a connection that rests that long)
     */
    public StrictHttpClientCodec(int maxLineBytes, int maxHeaderBytes, long idleMs) {
        init(new ResponseDecoder(maxLineBytes, maxHeaderBytes, idleMs), new RequestEncoder());
    }

    private final class RequestEncoder extends HttpRequestEncoder {
        @Override
        protected void encodeHeaders(HttpHeaders headers, ByteBuf buf) {
            if (!HeadFields.write(headers, buf)) {
                super.encodeHeaders(headers, buf);
            }
        }

        @Override
        protected void encode(ChannelHandlerContext ctx, Object msg, List<Object> out) throws Exception {
            if (msg instanceof HttpRequest request) {
                sent.addLast(request.method());
            }
            super.encode(ctx, msg, out);
        }
    }

    private final class ResponseDecoder extends StrictHttpDecoder {
        ResponseDecoder(int maxLineBytes, int maxHeaderBytes, long idleMs) {
            super(false, maxLineBytes, maxHeaderBytes, idleMs);
        }

        @Override
        HttpMessage newRequest(byte[] head, int methodStart, int methodEnd, int targetStart, int targetEnd,
                HttpVersion version, HttpHeaders headers) {
            throw new UnsupportedOperationException();
        }

        @Override
        HttpMessage newResponse(HttpVersion version, int status, byte[] head, int reasonStart, int reasonEnd,
                HttpHeaders headers) {
            HttpResponseStatus known = HttpResponseStatus.valueOf(status);
            int n = reasonEnd - reasonStart;
            String phrase = known.reasonPhrase();
            boolean same = phrase.length() == n;
            for (int i = 0; same && i < n; i++) {
                same = phrase.charAt(i) == (head[reasonStart + i] & 0xff);
            }
            HttpResponseStatus exact = same ? known
                    : new HttpResponseStatus(status, new String(head, reasonStart, n, StandardCharsets.ISO_8859_1));
            return new DefaultHttpResponse(version, exact, headers);
        }

        @Override
        HttpMessage invalidHead() {
            return new DefaultFullHttpResponse(HttpVersion.HTTP_1_0, UNKNOWN_STATUS, Unpooled.EMPTY_BUFFER, HEADERS,
                    TRAILERS);
        }

        /**
         * A 1xx answers no request on its own (RFC 9110 section 15.2), and has no body; a final
         * response to HEAD has none whatever its framing fields say, nor has a 204 or a 304.
         */
        @Override
        boolean bodyAlwaysEmpty(HttpMessage msg) {
            HttpResponseStatus status = ((HttpResponse) msg).status();
            if (status.codeClass() == HttpStatusClass.INFORMATIONAL) {
                return true;
            }
            HttpMethod method = sent.pollFirst();
            return HttpMethod.HEAD.equals(method) || status.code() == 204 || status.code() == 304;
        }

        /** A 101 to anything but HTTP/1.x: the bytes after it are another protocol's. */
        @Override
        boolean switchesProtocol(HttpMessage msg) {
            if (((HttpResponse) msg).status().code() != 101) {
                return false;
            }
            String protocol = msg.headers().get(HttpHeaderNames.UPGRADE);
            return protocol == null || !protocol.contains("HTTP/1.0") && !protocol.contains("HTTP/1.1");
        }
    }
}
