package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.ScriptedBackendProxyExtension;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A chunked request body that turns invalid after its head was forwarded (the invalid bytes come
 * in a later read): the backend, which waits for the whole body before answering, keeps an
 * incomplete request whose connection the proxy closes, never a last chunk nor any of the invalid
 * bytes; the client, which has had nothing yet, gets 400 and a closed connection.
 */
class ChunkedBodyAfterHeadTest {
    private static final String HEAD = "POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    private static final String FIRST_CHUNK = "5\r\nhello\r\n";
    private static final int WAIT_MS = 5000;

    /** What one backend connection received: its request head, then every byte after it, then how it ended. */
    private record Received(String head, String body, String end) {}

    private static final BlockingQueue<String> heads = new LinkedBlockingQueue<>();
    private static final BlockingQueue<Received> connections = new LinkedBlockingQueue<>();

    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("body-recording-backend", ChunkedBodyAfterHeadTest::serve)
                    // Streamed from the first byte: the head reaches the backend before the body.
                    .config("\"limits\":{\"requestBufferBytes\":0}");

    /** Records the head, then reads until the proxy closes; never answers (the body never ends well). */
    private static void serve(Socket s) {
        try (s) {
            s.setSoTimeout(10_000);
            InputStream in = s.getInputStream();
            String head = RawBackend.readHead(in);
            if (head == null) {
                return;
            }
            heads.add(head);
            ByteArrayOutputStream body = new ByteArrayOutputStream();
            String end;
            try {
                for (int c; (c = in.read()) != -1; ) {
                    body.write(c);
                }
                end = "closed";
            } catch (SocketTimeoutException e) {
                end = "still open after 10 s";
            } catch (IOException e) {
                end = "closed"; // reset
            }
            connections.add(new Received(head, body.toString(StandardCharsets.ISO_8859_1), end));
        } catch (IOException e) {
            // the proxy closed early
        }
    }

    static Stream<Arguments> invalidContinuations() {
        return Stream.of(
                arguments("size +5", "+5\r\nworld\r\n0\r\n\r\n"),
                arguments("size 0x5", "0x5\r\nworld\r\n0\r\n\r\n"),
                arguments("trailing space in size", "5 \r\nworld\r\n0\r\n\r\n"),
                arguments("20 digits with leading zeros", "00000000000000000005\r\nworld\r\n0\r\n\r\n"),
                arguments("bare LF after size", "5\nworld\r\n0\r\n\r\n"),
                arguments("bare CR after size", "5\rworld\r\n0\r\n\r\n"),
                arguments("bare LF after last size", "0\n\r\n"),
                arguments("bare CR in extension", "5;a\rb\r\nworld\r\n0\r\n\r\n"),
                arguments("no CRLF after data", "5\r\nworldX\r\n0\r\n\r\n"),
                arguments("bare LF after data", "5\r\nworld\n0\r\n\r\n"),
                arguments("obs-fold in a trailer", "0\r\nX-T: a\r\n b\r\n\r\n"),
                arguments("bare LF ending trailers", "0\r\n\n"),
                arguments("extension over the chunk line limit", "5;e=" + "x".repeat(16 * 1024) + "\r\nworld\r\n0\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidContinuations")
    void invalidChunkAfterTheHeadClosesBothConnections(String label, String continuation) throws Exception {
        heads.clear();
        connections.clear();
        int status;
        boolean closed;
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.socket().setSoTimeout(WAIT_MS);
            raw.send(HEAD + FIRST_CHUNK);
            assertThat(heads.poll(WAIT_MS, TimeUnit.MILLISECONDS)).as("head forwarded before the body ended")
                    .startsWith("POST /upload HTTP/1.1\r\n");
            raw.send(continuation);
            status = raw.read().status();
            closed = raw.isClosedByPeer(WAIT_MS);
        }
        Received backend = connections.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(backend).as("the backend connection ended within %d ms", WAIT_MS).isNotNull();
        assertThat(backend.end()).as("how the backend connection ended").isEqualTo("closed");
        // The body as re-chunked by the proxy: the valid first chunk, never the last chunk, never
        // the invalid bytes.
        assertThat(backend.body()).as("body bytes at the backend").isEqualTo(FIRST_CHUNK);
        assertThat(status).as("client's answer").isEqualTo(400);
        assertThat(closed).as("client connection closed").isTrue();
    }
}
