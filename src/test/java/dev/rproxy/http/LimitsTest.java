package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class LimitsTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1).config(
            "\"limits\":{\"maxRequestLineBytes\":1024,\"maxHeaderBytes\":2048,\"maxHeaderCount\":20,"
                    + "\"maxBodyBytes\":1000,\"maxConnections\":50}");

    @Test
    void http11WithoutHostOrWithTwoIs400() throws Exception {
        assertRejected("GET / HTTP/1.1\r\n\r\n", 400);
        assertRejected("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
        assertRejected("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    }

    @Test
    void versionsOtherThan10And11Are505() throws Exception {
        assertRejected("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
        assertRejected("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    }

    @Test
    void requestLineOverTheLimitIs414() throws Exception {
        assertRejected("GET /" + "a".repeat(1100) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414);
    }

    @Test
    void headerSectionOverTheLimitIs431() throws Exception {
        assertRejected("GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + "b".repeat(3000) + "\r\n\r\n", 431);
    }

    @Test
    void tooManyHeaderFieldsIs431() throws Exception {
        StringBuilder req = new StringBuilder("GET / HTTP/1.1\r\nHost: h\r\n");
        for (int i = 0; i < 25; i++) {
            req.append("X-H").append(i).append(": v\r\n");
        }
        assertRejected(req.append("\r\n").toString(), 431);
    }

    @Test
    void declaredBodyOverTheLimitIs413BeforeAnythingIsForwarded() throws Exception {
        assertRejected("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 1001\r\n\r\n", 413);
    }

    @Test
    void chunkedBodyCrossingTheLimitGets413AndNothingIsForwarded() throws Exception {
        long before = proxy.backend(0).requestCount();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3e8\r\n" + "x".repeat(1000) + "\r\n");
            raw.send("a\r\n" + "y".repeat(10) + "\r\n0\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        // The body was still being buffered when it crossed the limit: no backend was involved.
        assertThat(proxy.get("/barrier").statusCode()).isEqualTo(200);
        assertThat(proxy.backend(0).requestCount()).isEqualTo(before + 1);
    }

    @Test
    void clientStillSendingAnOversizedBodyReadsThe413BeforeTheConnectionCloses() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 4000000\r\n\r\n");
            // Keep sending what was announced: a proxy that closed at once would reset the
            // connection under unread bytes and the 413 could be lost.
            byte[] chunk = new byte[64 * 1024];
            try {
                for (int i = 0; i < 16; i++) {
                    raw.send(chunk);
                }
            } catch (java.io.IOException e) {
                // the proxy may stop reading once its linger time is over; the answer must still be there
            }
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(413);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
        }
    }

    @Test
    void bodyWithinTheLimitPasses() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" + "z".repeat(1000));
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).contains("\"body_bytes\":1000");
        }
    }

    @Test
    void atTheLimitTheConnectionIdleLongestMakesRoomForANewOne() throws Exception {
        java.util.List<RawHttp> held = new java.util.ArrayList<>();
        try {
            for (int i = 0; i < 50; i++) {
                RawHttp c = new RawHttp(proxy.port());
                held.add(c);
                c.send("GET /held HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(c.read().status()).isEqualTo(200);
            }
            // The 50th was used last: it is idle the shortest and is kept.
            held.get(49).send("GET /recent HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(held.get(49).read().status()).isEqualTo(200);
            try (RawHttp extra = new RawHttp(proxy.port())) {
                extra.send("GET /new HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(extra.read().status()).isEqualTo(200);
            }
            // The first, idle longest, was closed to make room; the connection count is back
            // under the limit.
            assertThat(held.get(0).isClosedByPeer(5000)).isTrue();
            held.get(49).send("GET /still HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(held.get(49).read().status()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().clientConnections() <= 50);
        } finally {
            for (RawHttp c : held) {
                c.close();
            }
            // The proxy counts a connection until it has read the client's close: wait for all 50,
            // or the next test's connection could still find the limit reached.
            await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().clientConnections() == 0);
        }
    }

    private static void assertRejected(String request, int status) throws Exception {
        long before = proxy.backend(0).requestCount();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(request);
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(status);
            assertThat(r.header("content-type")).startsWith("text/plain");
            assertThat(r.bodyText()).isNotBlank();
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        // A refused request is answered before anything of it is forwarded; a request made after
        // the answer is the barrier (a forwarded head would have reached the backend before it).
        try (RawHttp barrier = new RawHttp(proxy.port())) {
            barrier.send("GET /barrier HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
            assertThat(barrier.read().status()).isEqualTo(200);
            assertThat(barrier.isClosedByPeer(5000)).isTrue();
        }
        assertThat(proxy.backend(0).requestCount() - before).as("requests that reached the backend").isEqualTo(1);
    }
}
