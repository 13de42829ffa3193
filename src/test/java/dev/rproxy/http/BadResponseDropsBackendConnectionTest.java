package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.ScriptedBackendProxyExtension;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A backend connection that carried a response with broken framing is closed by the proxy and never
 * taken from the pool again, even though the backend keeps it open and would take more requests:
 * the next request reaches the backend on a new connection. The backend here keeps every
 * connection alive and answers each request head with the response the test set.
 */
class BadResponseDropsBackendConnectionTest {
    private static final String GOOD = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine";
    private static final int WAIT_MS = 5000;

    /** "N GET /path" for each request head on backend connection N, "N closed" when the proxy closed it. */
    private static final BlockingQueue<String> events = new LinkedBlockingQueue<>();
    private static final AtomicInteger connectionIds = new AtomicInteger();
    private static volatile String response = GOOD;

    /** One event loop, so one pool: every request could reuse the one pooled backend connection. */
    @RegisterExtension
    static final ScriptedBackendProxyExtension proxy =
            new ScriptedBackendProxyExtension("keep-alive-backend", BadResponseDropsBackendConnectionTest::serve)
                    .config("\"server\":{\"ioThreads\":1}");

    private static void serve(Socket s) {
        int id = connectionIds.incrementAndGet();
        try (s) {
            s.setSoTimeout(30_000);
            InputStream in = s.getInputStream();
            for (String head; (head = RawBackend.readHead(in)) != null; ) {
                String line = head.substring(0, head.indexOf(" HTTP/"));
                events.add(id + " " + line);
                s.getOutputStream().write(response.getBytes(StandardCharsets.ISO_8859_1));
                s.getOutputStream().flush();
            }
            events.add(id + " closed");
        } catch (IOException e) {
            events.add(id + " closed");
        }
    }

    @BeforeEach
    void reset() throws Exception {
        response = GOOD;
        // A connection left pooled by an earlier test would serve this one's first request.
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /warm HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
        events.clear();
    }

    static Stream<Arguments> badResponses() {
        return Stream.of(
                arguments("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n0\r\n\r\n"),
                arguments("two different CL", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello"),
                arguments("bad status line", "HTTP/1.1 2OO OK\r\nContent-Length: 5\r\n\r\nhello"),
                arguments("obs-fold", "HTTP/1.1 200 OK\r\nX-A: b\r\n c\r\nContent-Length: 5\r\n\r\nhello"),
                arguments("bad chunk size mid-body", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n+5\r\nworld\r\n0\r\n\r\n"),
                arguments("chunk data longer than its size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "3\r\nhello\r\n0\r\n\r\n"),
                arguments("101 nobody asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badResponses")
    void backendConnectionWithABadResponseIsClosedAndNeverReused(String label, String bad) throws Exception {
        response = bad;
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.socket().setSoTimeout(WAIT_MS);
            raw.send("GET /bad HTTP/1.1\r\nHost: h\r\n\r\n");
            try {
                RawHttp.Response r = raw.read();
                assertThat(r.status()).as("what the client got").isEqualTo(502);
            } catch (IOException closedWithoutAnswer) {
                // allowed once the proxy may have begun the response: the point here is the backend side
            }
        }
        String first = events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(first).as("the bad exchange at the backend").endsWith(" GET /bad");
        String id = first.substring(0, first.indexOf(' '));
        assertThat(events.poll(WAIT_MS, TimeUnit.MILLISECONDS)).as("the proxy closed that backend connection")
                .isEqualTo(id + " closed");

        response = GOOD;
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().bodyText()).isEqualTo("fine");
        }
        String next = events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(next).as("the next request at the backend").endsWith(" GET /next").doesNotStartWith(id + " ");
    }

    /** The control: a good response leaves its connection pooled, so the check above can tell. */
    @Test
    void backendConnectionWithAGoodResponseIsReused() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /one HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().bodyText()).isEqualTo("fine");
        }
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /two HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().bodyText()).isEqualTo("fine");
        }
        String one = events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        String two = events.poll(WAIT_MS, TimeUnit.MILLISECONDS);
        assertThat(one).endsWith(" GET /one");
        assertThat(two).isEqualTo(one.substring(0, one.indexOf(' ')) + " GET /two");
    }
}
