package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
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
import io.netty.handler.codec.http.LastHttpContent;
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
public final class StrictHttpServerCodec extends CombinedChannelDuplexHandler<HttpRequestDecoder, HttpResponseEncoder> {
    /** Requests decoded and not yet answered, at most (Netty's default pipeline depth). */
    static final int MAX_PIPELINED = 128;

    /** For each request decoded and not answered yet, in order: whether it is a HEAD request. */
    private final ArrayDeque<Boolean> unanswered = new ArrayDeque<>();
    private final RequestDecoder decoder;

    public StrictHttpServerCodec(HttpDecoderConfig config) {
        decoder = new RequestDecoder(config);
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

    private final class RequestDecoder extends HttpRequestDecoder implements StrictHttpScanner.Owner {
        private final StrictHttpScanner scanner = new StrictHttpScanner(true, this);
        /** An upgrade request was decoded; its end holds back what follows. */
        private boolean upgradeDecoded;
        /** Not {@code null} while what follows an upgrade request waits for the backend's answer. */
        private ChannelHandlerContext holdingFor;

        RequestDecoder(HttpDecoderConfig config) {
            super(config);
        }

        @Override
        protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
            if (holdingFor != null) {
                return; // left in the cumulation, unread
            }
            int from = out.size();
            scanner.decode(ctx, in, out);
            for (int i = from; i < out.size(); i++) {
                Object msg = out.get(i);
                if (msg instanceof HttpRequest request) {
                    if (unanswered.size() >= MAX_PIPELINED) {
                        refuseFrom(i, request, in, out);
                        return;
                    }
                    unanswered.addLast(HttpMethod.HEAD.equals(request.method()));
                    upgradeDecoded = request.decoderResult().isSuccess() && HopByHopHeaders.upgradeToOffer(request) != null;
                } else if (upgradeDecoded && msg instanceof LastHttpContent) {
                    upgradeDecoded = false;
                    holdingFor = ctx;
                }
            }
        }

        void resume() {
            ChannelHandlerContext ctx = holdingFor;
            if (ctx == null) {
                return;
            }
            holdingFor = null;
            if (internalBuffer().isReadable()) {
                try {
                    channelRead(ctx, Unpooled.EMPTY_BUFFER); // decodes what is held, as a read would
                    channelReadComplete(ctx);
                } catch (Exception e) {
                    ctx.fireExceptionCaught(e);
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
            if (holdingFor != null) {
                // The client's input ended while the backend decides: nothing more can follow, so
                // what is held is decoded as HTTP now rather than dropped with the input.
                holdingFor = null;
                while (in.isReadable() && holdingFor == null) {
                    int decoded = out.size();
                    int readable = in.readableBytes();
                    decode(ctx, in, out);
                    if (out.size() == decoded && in.readableBytes() == readable) {
                        break;
                    }
                }
                if (holdingFor != null) {
                    return; // another upgrade request, the last one the client sent
                }
            }
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
