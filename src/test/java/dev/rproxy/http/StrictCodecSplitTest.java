package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandler;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The strict codecs see a stream split into two reads at every byte exactly as they see it whole:
 * the scanner's offset into a head or a chunk line survives the split. A socket cannot promise
 * where reads split, so the bytes are handed to the codec in a channel of its own, one buffer per
 * read, and every split point is certain.
 */
class StrictCodecSplitTest {
    /** Pipelined requests of every framing: one CRLF before the first, length, chunked with an extension, none. */
    private static final String REQUESTS = "\r\nPOST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
            + "POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "3;a=\"b c\"\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
            + "GET /sink HTTP/1.1\r\nHost: h\r\n\r\n";

    /** Responses to GET, GET, HEAD: length, chunked with an extension and a trailer, chunked header on HEAD. */
    private static final String RESPONSES = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: v\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    @Test
    void requestsDecodeTheSameAtEverySplitPoint() {
        assertSameAtEverySplit(REQUESTS, () -> new EmbeddedChannel(new StrictHttpServerCodec(4096, 8192, 10_000, 0)),
                List.of("POST /sink 5", "POST /sink 19", "GET /sink 0"));
    }

    @Test
    void responsesDecodeTheSameAtEverySplitPoint() {
        assertSameAtEverySplit(RESPONSES, () -> {
            EmbeddedChannel ch = new EmbeddedChannel((ChannelHandler) new StrictHttpClientCodec(4096, 8192, 0));
            for (HttpMethod method : new HttpMethod[] {HttpMethod.GET, HttpMethod.GET, HttpMethod.HEAD}) {
                ch.writeOutbound(new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, method, "/"));
            }
            ch.releaseOutbound();
            return ch;
        }, List.of("200 5", "200 3", "200 0"));
    }

    /** Heads a few times longer than the decoder's scan window, where runs of name, value and target bytes cross it. */
    @Test
    void longHeadsDecodeTheSameAtEverySplitPoint() {
        String target = "/" + "t".repeat(700) + "?q=" + "%41".repeat(100);
        String name = "X-" + "n".repeat(600);
        String value = "v".repeat(600) + " \t " + "\u00e9".repeat(300) + "w";
        byte[] all = ("GET " + target + " HTTP/1.1\r\nHost: h\r\n" + name + ":  " + value + " \t \r\nX-B: b\r\n\r\n")
                .getBytes(StandardCharsets.ISO_8859_1);
        for (int split = 0; split < all.length; split++) {
            EmbeddedChannel ch = new EmbeddedChannel(new StrictHttpServerCodec(4096, 8192, 10_000, 0));
            if (split > 0) {
                ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(all, 0, split)));
            }
            ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(all, split, all.length)));
            HttpRequest request = ch.readInbound();
            assertThat(request.decoderResult().isSuccess()).as("split at byte %d", split).isTrue();
            assertThat(request.uri()).isEqualTo(target);
            assertThat(request.headers().get(name)).as("split at byte %d", split).isEqualTo(value);
            assertThat(request.headers().get("x-b")).isEqualTo("b");
            ch.finishAndReleaseAll();
        }
    }

    /**
     * The limits hold at the same byte however a head is split: a field section of exactly {@code
     * maxHeaderBytes} (CRLFs not counted) and a request line of exactly {@code maxLineBytes} pass,
     * one byte more is refused.
     */
    @Test
    void limitsFallOnTheSameByteAtEverySplitPoint() {
        // "Host: h" is 7 bytes, "X: " 3 more before the value.
        String fits = "GET / HTTP/1.1\r\nHost: h\r\nX: " + "v".repeat(1990) + "\r\n\r\n";
        String over = "GET / HTTP/1.1\r\nHost: h\r\nX: " + "v".repeat(1991) + "\r\n\r\n";
        String lineFits = "GET /" + "t".repeat(986) + " HTTP/1.1\r\nHost: h\r\n\r\n"; // 1000 bytes before CRLF
        String lineOver = "GET /" + "t".repeat(987) + " HTTP/1.1\r\nHost: h\r\n\r\n";
        for (String[] c : new String[][] {{fits, "ok"}, {over, "TooLongHttpHeaderException"},
                {lineFits, "ok"}, {lineOver, "TooLongHttpLineException"}}) {
            byte[] all = c[0].getBytes(StandardCharsets.ISO_8859_1);
            for (int split = 0; split < all.length; split += 7) {
                EmbeddedChannel ch = new EmbeddedChannel(new StrictHttpServerCodec(1000, 2000, 10_000, 0));
                if (split > 0) {
                    ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(all, 0, split)));
                }
                ch.writeInbound(Unpooled.wrappedBuffer(Arrays.copyOfRange(all, split, all.length)));
                HttpRequest request = ch.readInbound();
                String outcome = request.decoderResult().isSuccess() ? "ok"
                        : request.decoderResult().cause().getClass().getSimpleName();
                assertThat(outcome).as("%d bytes split at %d", all.length, split).isEqualTo(c[1]);
                ch.finishAndReleaseAll();
            }
        }
    }

    private static void assertSameAtEverySplit(String stream, Supplier<EmbeddedChannel> codec, List<String> expected) {
        byte[] all = stream.getBytes(StandardCharsets.ISO_8859_1);
        assertThat(decode(codec.get(), all)).isEqualTo(expected);
        for (int split = 1; split < all.length; split++) {
            assertThat(decode(codec.get(), Arrays.copyOfRange(all, 0, split), Arrays.copyOfRange(all, split, all.length)))
                    .as("split at byte %d", split)
                    .isEqualTo(expected);
        }
    }

    /** Each message as "start-line-summary body-bytes"; a decoder failure fails the test. */
    private static List<String> decode(EmbeddedChannel ch, byte[]... reads) {
        for (byte[] read : reads) {
            ch.writeInbound(Unpooled.wrappedBuffer(read));
        }
        List<String> messages = new ArrayList<>();
        String start = null;
        long body = 0;
        for (Object msg; (msg = ch.readInbound()) != null; ) {
            try {
                if (msg instanceof HttpMessage m) {
                    assertThat(m.decoderResult().isSuccess()).as("decoded %s", m).isTrue();
                    start = m instanceof HttpRequest r ? r.method() + " " + r.uri()
                            : String.valueOf(((HttpResponse) m).status().code());
                    body = 0;
                }
                if (msg instanceof HttpContent c) {
                    assertThat(c.decoderResult().isSuccess()).as("decoded content").isTrue();
                    body += c.content().readableBytes();
                }
                if (msg instanceof LastHttpContent) {
                    messages.add(start + " " + body);
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }
        ch.finishAndReleaseAll();
        return messages;
    }
}
