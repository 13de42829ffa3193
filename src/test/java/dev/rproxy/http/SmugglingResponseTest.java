package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawBackendProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Request smuggling defences (issue 3, "Rules", responses): a {@link RawBackend} answers with exact
 * bytes whose framing is ambiguous or broken. The client gets 502 while nothing of the response has
 * been sent, and otherwise a closed connection, never a response that looks complete; either way
 * the next request, on a new connection, is served normally.
 */
class SmugglingResponseTest {
    private static final String GOOD = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfine";
    /** Longest wait for the proxy's answer; a hang shows as "no answer". */
    private static final int ANSWER_MS = 5000;
    private static final String CHUNKED_HEAD = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

    @RegisterExtension
    static final RawBackendProxyExtension scripted = new RawBackendProxyExtension(GOOD);

    /** Broken before the first body byte: the proxy knows before it sends anything. */
    static Stream<Arguments> responseHeads() {
        return Stream.of(
                arguments("CL then TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n"),
                arguments("TE then CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n"),
                arguments("CL 0 with TE", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n"),
                length("two equal CL", "Content-Length: 5\r\nContent-Length: 5"),
                length("two different CL", "Content-Length: 2\r\nContent-Length: 5"),
                length("CL list of equal values", "Content-Length: 5, 5"),
                length("CL list of different values", "Content-Length: 2, 5"),
                length("CL letters", "Content-Length: 5a"),
                length("CL plus sign", "Content-Length: +5"),
                length("CL minus one", "Content-Length: -1"),
                length("CL empty", "Content-Length:"),
                length("CL 2^64 + 5, wraps to 5", "Content-Length: 18446744073709551621"),
                status("status 2OO", "HTTP/1.1 2OO OK"),
                status("negative status", "HTTP/1.1 -200 OK"),
                status("not HTTP", "ICY 200 OK"),
                status("garbage", "garbage"),
                arguments("bare LF line endings", "HTTP/1.1 200 OK\nContent-Length: 5\n\nhello"),
                arguments("bare LF ending the head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\nhello"),
                status("two-digit status", "HTTP/1.1 20 OK"),
                status("four-digit status", "HTTP/1.1 2000 OK"),
                status("HTTP/2.0", "HTTP/2.0 200 OK"),
                status("two spaces before status", "HTTP/1.1  200 OK"),
                status("leading space", " HTTP/1.1 200 OK"),
                status("two CRLF before the status line", "\r\n\r\nHTTP/1.1 200 OK"),
                status("lower-case version", "http/1.1 200 OK"),
                status("tab before status", "HTTP/1.1\t200 OK"),
                status("NUL in reason", "HTTP/1.1 200 O\u0000K"),
                status("bare CR in reason", "HTTP/1.1 200 O\rK"),
                arguments("obs-fold in a field", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 5\r\n\r\nhello"),
                arguments("obs-fold of Content-Length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n 5\r\n\r\nhello"),
                arguments("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 5\r\n\r\nhello"),
                coding("TE xchunked", "xchunked"),
                coding("TE chunkedx", "chunkedx"),
                coding("TE identity", "identity"),
                coding("TE gzip, chunked not last", "gzip"),
                coding("TE gzip before chunked", "gzip, chunked"),
                coding("TE chunked, identity", "chunked, identity"),
                coding("TE chunked, chunked", "chunked, chunked"),
                coding("TE empty", ""),
                coding("TE trailing vertical tab", "chunked\u000b"),
                coding("TE trailing NUL", "chunked\u0000"),
                coding("TE trailing NBSP", "chunked\u00a0"),
                arguments("TE chunked in two fields", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                        + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
                arguments("TE in an HTTP/1.0 response", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n"));
    }

    /**
     * A HEAD response carries no body whatever its framing says, so a coding the proxy does not
     * decode is no reason to refuse it; the client connection stays usable.
     */
    @Test
    void headResponseWithAnyCodingIsRelayedWithoutBody() throws Exception {
        scripted.backend().respondWith("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        try (RawHttp raw = new RawHttp(scripted.proxy().port())) {
            raw.socket().setSoTimeout(ANSWER_MS);
            raw.send("HEAD /r HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read(true).status()).isEqualTo(200);
        }
        assertThat(scripted.backend().nextRequest(ANSWER_MS, TimeUnit.MILLISECONDS)).startsWith("HEAD /r HTTP/1.1\r\n");
        assertNextRequestServed();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("responseHeads")
    void badResponseHeadGets502(String label, String response) throws Exception {
        assertBadHeadGets502(response);
    }

    /** Broken inside a chunked body: the head may already be on its way to the client. */
    static Stream<Arguments> responseChunks() {
        return Stream.of(
                chunks("size 0x5", "0x5\r\nhello\r\n0\r\n\r\n"),
                chunks("size +5", "+5\r\nhello\r\n0\r\n\r\n"),
                chunks("size _5", "_5\r\nhello\r\n0\r\n\r\n"),
                chunks("leading space in size", " 5\r\nhello\r\n0\r\n\r\n"),
                chunks("trailing space in size", "5 \r\nhello\r\n0\r\n\r\n"),
                chunks("17 hex digits, overflows 64 bits", "10000000000000005\r\nhello\r\n0\r\n\r\n"),
                chunks("bare LF after size", "5\nhello\r\n0\r\n\r\n"),
                chunks("bare CR after size", "5\rhello\r\n0\r\n\r\n"),
                chunks("bare LF after last size", "5\r\nhello\r\n0\n\r\n"),
                chunks("bare LF ending trailers", "5\r\nhello\r\n0\r\n\n"),
                chunks("no CRLF after data", "5\r\nhello0\r\n\r\n"),
                chunks("data longer than size", "3\r\nhello\r\n0\r\n\r\n"),
                chunks("20 digits with leading zeros", "00000000000000000005\r\nhello\r\n0\r\n\r\n"),
                chunks("20 digits in the last chunk", "5\r\nhello\r\n00000000000000000000\r\n\r\n"),
                chunks("obs-fold in a trailer", "5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("responseChunks")
    void badResponseChunkingIsNeverRelayedAsComplete(String label, String response) throws Exception {
        assertNeverRelayedAsComplete(response);
    }

    /**
     * The same broken bodies sent in one write with their head: the proxy finds the fault in the
     * read that brought the head, before anything of the response has gone to the client, so the
     * client gets 502 rather than a bare close.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("responseChunks")
    void badResponseChunkingInTheReadOfTheHeadGets502(String label, String response) throws Exception {
        assertBadHeadGets502(response);
    }

    /**
     * A chunk size split across two reads of the proxy: the backend sends the second part only after
     * the client has the head and first chunk, so the proxy decoded the first part on its own.
     */
    @Test
    void chunkSizeSplitAcrossReadsIsStillCheckedWhole() throws Exception {
        String first = CHUNKED_HEAD + "5\r\nhello\r\n0000000000";
        String rest = "0000000005\r\nhello\r\n0\r\n\r\n"; // 20 digits in all
        String relayed = splitResponse(first, rest);
        assertThat(relayed).as("what followed the first chunk").doesNotContain("0\r\n\r\n");
        assertNextRequestServed();
    }

    @Test
    void sixteenDigitChunkSizeSplitAcrossReadsIsRelayed() throws Exception {
        String first = CHUNKED_HEAD + "5\r\nhello\r\n00000000";
        String rest = "00000005\r\nworld\r\n0\r\n\r\n"; // 16 digits in all
        String relayed = splitResponse(first, rest);
        assertThat(relayed).as("what followed the first chunk").isEqualTo("5\r\nworld\r\n0\r\n\r\n");
    }

    /**
     * Sends {@code first} then, once the client has the relayed head and the 5-byte first chunk,
     * {@code rest}; returns what the client got after that chunk until the proxy closed or ended the
     * response.
     */
    private static String splitResponse(String first, String rest) throws Exception {
        CountDownLatch go = new CountDownLatch(1);
        scripted.backend().respondInTwoParts(first, go, rest);
        try (RawHttp raw = new RawHttp(scripted.proxy().port())) {
            raw.socket().setSoTimeout(ANSWER_MS);
            raw.send("GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response head = raw.read(true);
            assertThat(head.status()).isEqualTo(200);
            InputStream in = raw.socket().getInputStream();
            assertThat(new String(in.readNBytes(10), StandardCharsets.ISO_8859_1)).isEqualTo("5\r\nhello\r\n");
            go.countDown();
            ByteArrayOutputStream after = new ByteArrayOutputStream();
            byte[] end = "0\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1);
            for (int c; (c = in.read()) != -1; ) {
                after.write(c);
                byte[] got = after.toByteArray();
                if (got.length >= end.length && Arrays.equals(got, got.length - end.length, got.length, end, 0, end.length)) {
                    break; // the response ended; the connection may stay open
                }
            }
            return after.toString(StandardCharsets.ISO_8859_1);
        } finally {
            go.countDown();
            assertThat(scripted.backend().nextRequest(ANSWER_MS, TimeUnit.MILLISECONDS)).startsWith("GET /r HTTP/1.1\r\n");
        }
    }

    // ------------------------------------------------------------------ support

    /** The client's view: status (-1: none), whether the body was whole, whether the proxy closed. */
    private record Answer(int status, boolean complete, boolean closed, String detail) {
        @Override
        public String toString() {
            return "client got " + (status < 0 ? "no status line" : status) + (complete ? ", complete" : ", incomplete")
                    + (closed ? ", closed" : "") + (detail == null ? "" : " (" + detail + ")");
        }
    }

    private static void assertBadHeadGets502(String response) throws Exception {
        Answer answer = exchange(response);
        assertThat(answer.status).as("client's answer; %s", answer).isEqualTo(502);
        assertNextRequestServed();
    }

    /**
     * A 502 while the client has had nothing; once the head has gone out, only a close, so the
     * client never takes a broken body for a whole one.
     */
    private static void assertNeverRelayedAsComplete(String response) throws Exception {
        Answer answer = exchange(response);
        if (answer.status != 502) {
            assertThat(answer.complete).as("relayed as a complete response; %s", answer).isFalse();
            assertThat(answer.closed).as("client connection closed; %s", answer).isTrue();
        }
        assertNextRequestServed();
    }

    private static Answer exchange(String response) throws Exception {
        scripted.backend().respondWith(response);
        Answer answer;
        try (RawHttp raw = new RawHttp(scripted.proxy().port())) {
            raw.socket().setSoTimeout(ANSWER_MS);
            raw.send("GET /r HTTP/1.1\r\nHost: h\r\n\r\n");
            try {
                RawHttp.Response r = raw.read();
                String length = r.header("content-length");
                boolean whole = length == null || Long.parseLong(length) == r.body().length;
                answer = new Answer(r.status(), whole, !whole, r.bodyText().trim());
            } catch (SocketTimeoutException e) {
                answer = new Answer(-1, false, false, "hangs, nothing within " + ANSWER_MS + " ms");
            } catch (IOException e) {
                answer = new Answer(-1, false, true, e.getMessage());
            } catch (NumberFormatException e) {
                answer = new Answer(-1, false, false, "unparseable answer: " + e.getMessage());
            }
        }
        assertThat(scripted.backend().nextRequest(ANSWER_MS, TimeUnit.MILLISECONDS)).as("the request at the backend")
                .startsWith("GET /r HTTP/1.1\r\n");
        return answer;
    }

    /** After the broken exchange, a new connection gets the backend's next, well-formed answer. */
    private static void assertNextRequestServed() throws Exception {
        scripted.backend().respondWith(GOOD);
        try (RawHttp raw = new RawHttp(scripted.proxy().port())) {
            raw.socket().setSoTimeout(ANSWER_MS);
            raw.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).as("next request's status").isEqualTo(200);
            assertThat(r.bodyText()).isEqualTo("fine");
        }
        assertThat(scripted.backend().nextRequest(ANSWER_MS, TimeUnit.MILLISECONDS)).startsWith("GET /next HTTP/1.1\r\n");
    }

    private static Arguments length(String label, String fields) {
        return arguments(label, "HTTP/1.1 200 OK\r\n" + fields + "\r\n\r\nhello");
    }

    /** A response whose only body framing is {@code Transfer-Encoding: value}. */
    private static Arguments coding(String label, String value) {
        return arguments(label, "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + value + "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    }

    private static Arguments status(String label, String statusLine) {
        return arguments(label, statusLine + "\r\nContent-Length: 5\r\n\r\nhello");
    }

    private static Arguments chunks(String label, String body) {
        return arguments(label, CHUNKED_HEAD + body);
    }
}
