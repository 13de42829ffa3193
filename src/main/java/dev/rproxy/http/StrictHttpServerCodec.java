package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.CombinedChannelDuplexHandler;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseEncoder;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.List;

/**
 * The client connection's HTTP/1 codec, in place of Netty's {@code HttpServerCodec}: the {@link
 * StrictHttpDecoder} for requests, which reads each head once and refuses what a lenient parser
 * would normalise (obs-fold, extra bytes before the request line, loose request-line whitespace, a
 * lower-case version, whitespace around {@code chunked}, over-long chunk sizes), and Netty's
 * response encoder. One handler, so the pipeline still has one "codec" to remove or replace.
 *
 * <p>What it keeps of {@code HttpServerCodec}: the encoder learns which responses answer a HEAD
 * request (no body, whatever the framing headers say) from a queue of the decoded requests, in
 * order; 1xx responses take no place in it. Pipelining is bounded as there: after {@link
 * #MAX_PIPELINED} requests without a response, the next one decodes as a failure and nothing after
 * it is read. A request with both {@code Content-Length} and chunked framing always fails here,
 * whatever Netty's RFC 9112 switch says.
 *
 * <p>Upgrades: after a request the proxy offers to upgrade ({@link HopByHopHeaders#upgradeToOffer}),
 * nothing more is decoded until the backend has answered it. The bytes behind it are the new
 * protocol if the backend switches, and are then passed on raw when this codec is removed (as
 * nginx and HAProxy relay them); if it declines, {@link #resumeDecoding()} reads them as HTTP.
 *
 * <p>Not kept: CONNECT handling (the proxy refuses CONNECT) and the upgrade hooks (the proxy does
 * not upgrade client connections itself).
 */
public final class StrictHttpServerCodec extends CombinedChannelDuplexHandler<StrictHttpDecoder, HttpResponseEncoder> {
    /** Requests decoded and not yet answered, at most (Netty's default pipeline depth). */
    static final int MAX_PIPELINED = 128;

    /** For each request decoded and not answered yet, in order: whether it is a HEAD request. */
    private final ArrayDeque<Boolean> unanswered = new ArrayDeque<>(4);
    private final RequestDecoder decoder;

    /**
     * @param maxLineBytes   the longest request line, CRLF not counted (414 beyond)
     * @param maxHeaderBytes the largest field section (431 beyond)
     * @param requestHeadMs  the time a head may take from its first byte ({@link RequestHeadDeadline})
     * @param idleMs         nothing read for this long fires a reader-idle event
     */
    public StrictHttpServerCodec(int maxLineBytes, int maxHeaderBytes, long requestHeadMs, long idleMs) {
        decoder = new RequestDecoder(maxLineBytes, maxHeaderBytes, new RequestHeadDeadline(requestHeadMs), idleMs);
        init(decoder, new ResponseEncoder());
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

    /**
     * The backend answered an upgrade request without switching protocols (or the proxy answered
     * it): what the client sent behind it is HTTP and is decoded now. Does nothing when no upgrade
     * request is pending. Called on the channel's event loop, outside of a read.
     */
    public void resumeDecoding() {
        decoder.resume();
    }

    private final class RequestDecoder extends StrictHttpDecoder {
        /** An upgrade request was decoded; its end holds back what follows. */
        private boolean upgradeDecoded;
        /** Whether what follows an upgrade request waits for the backend's answer. */
        private boolean holding;
        private ChannelHandlerContext ctx;
        private final RequestHeadDeadline deadline;

        RequestDecoder(int maxLineBytes, int maxHeaderBytes, RequestHeadDeadline deadline, long idleMs) {
            super(true, maxLineBytes, maxHeaderBytes, idleMs);
            this.deadline = deadline;
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
            this.ctx = ctx;
            deadline.bind(ctx);
            super.handlerAdded(ctx);
        }

        @Override
        protected void handlerRemoved0(ChannelHandlerContext ctx) throws Exception {
            deadline.cancel(); // the connection stopped being HTTP (a protocol switch)
            super.handlerRemoved0(ctx);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            deadline.cancel();
            super.channelInactive(ctx);
        }

        @Override
        void headStarted() {
            deadline.headStarted();
        }

        @Override
        HttpMessage newRequest(byte[] head, int methodStart, int methodEnd, int targetStart, int targetEnd,
                HttpVersion version, HttpHeaders headers) {
            return new DefaultHttpRequest(version, method(head, methodStart, methodEnd),
                    new String(head, targetStart, targetEnd - targetStart, StandardCharsets.ISO_8859_1), headers);
        }

        @Override
        HttpMessage newResponse(HttpVersion version, int status, byte[] head, int reasonStart, int reasonEnd,
                HttpHeaders headers) {
            throw new UnsupportedOperationException();
        }

        @Override
        HttpMessage invalidHead() {
            return new DefaultFullHttpRequest(HttpVersion.HTTP_1_0, HttpMethod.GET, "/bad-request", Unpooled.EMPTY_BUFFER,
                    HEADERS, TRAILERS);
        }

        @Override
        boolean bodyAlwaysEmpty(HttpMessage message) {
            return false;
        }

        @Override
        boolean admit(HttpMessage message) {
            deadline.headReceived();
            HttpRequest request = (HttpRequest) message;
            if (unanswered.size() >= MAX_PIPELINED) {
                request.setDecoderResult(DecoderResult.failure(
                        new StrictHttpDecoder.MalformedHttpException("more than " + MAX_PIPELINED + " pipelined requests")));
                unanswered.addLast(false); // the refusal answers it
                discardFromNowOn();
                return false;
            }
            unanswered.addLast(HttpMethod.HEAD.equals(request.method()));
            upgradeDecoded = request.decoderResult().isSuccess() && HopByHopHeaders.upgradeToOffer(request) != null;
            return true;
        }

        @Override
        void messageEnded() {
            if (upgradeDecoded) {
                upgradeDecoded = false;
                holding = true;
            }
        }

        @Override
        boolean holding() {
            return holding;
        }

        void resume() {
            if (!holding) {
                return;
            }
            holding = false;
            if (internalBuffer().isReadable()) {
                try {
                    channelRead(ctx, Unpooled.EMPTY_BUFFER); // decodes what is held, as a read would
                    channelReadComplete(ctx);
                } catch (Exception e) {
                    ctx.fireExceptionCaught(e);
                }
            }
        }

        @Override
        protected void decodeLast(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            // The client's input ended while the backend decides: nothing more can follow, so what
            // is held is decoded as HTTP now rather than dropped with the input (up to another
            // upgrade request, the last one the client sent).
            holding = false;
            super.decodeLast(ctx, in, out);
        }
    }

    /** The method, as a shared constant for the registered ones. */
    private static HttpMethod method(byte[] head, int start, int end) {
        int n = end - start;
        if (n == 3 && head[start] == 'G' && head[start + 1] == 'E' && head[start + 2] == 'T') {
            return HttpMethod.GET;
        }
        if (n == 4 && head[start] == 'P' && head[start + 1] == 'O' && head[start + 2] == 'S' && head[start + 3] == 'T') {
            return HttpMethod.POST;
        }
        return HttpMethod.valueOf(new String(head, start, n, StandardCharsets.ISO_8859_1));
    }

    private final class ResponseEncoder extends HttpResponseEncoder {
        @Override
        protected void encodeHeaders(HttpHeaders headers, ByteBuf buf) {
            if (!HeadFields.write(headers, buf)) {
                super.encodeHeaders(headers, buf);
            }
        }

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
