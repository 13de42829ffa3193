package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A client that shuts down its sending side (FIN) in the middle of a request body: the body can
 * never end, so the exchange ends at once instead of holding a backend connection for idleMs.
 */
class ClientHalfCloseTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .config("\"timeouts\":{\"idleMs\":30000}");

    @Test
    void finInTheMiddleOfALengthDelimitedBodyGets400AndFreesTheBackend() throws Exception {
        assertAnsweredAtOnce("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" + "x".repeat(5000));
    }

    @Test
    void finInTheMiddleOfAChunkedBodyGets400AndFreesTheBackend() throws Exception {
        assertAnsweredAtOnce("POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n");
    }

    @Test
    void finAfterACompleteBodyStillGetsTheBackendsAnswer() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello");
            raw.socket().shutdownOutput();
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.bodyText()).contains("\"body_bytes\":5");
        }
    }

    private static void assertAnsweredAtOnce(String partialRequest) throws Exception {
        long start = System.nanoTime();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send(partialRequest);
            raw.socket().shutdownOutput();
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(400);
            assertThat(answer.bodyText()).contains("incomplete");
            assertThat(answer.header("connection")).isEqualToIgnoringCase("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        // Far sooner than idleMs (30 s): the end of input, not a timer, ended the exchange.
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(10));
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().backends().all().get(0).activeConnections() == 0);
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().clientConnections() == 0);
    }
}
