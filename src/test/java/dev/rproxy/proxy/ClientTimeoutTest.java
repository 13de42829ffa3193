package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** timeouts.idleMs: idle, stalled-reading and stalled-sending clients are cut; slow backends are not. */
class ClientTimeoutTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1).config("\"timeouts\":{\"idleMs\":500}");

    @Test
    void idleKeepAliveConnectionIsClosed() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            // The idle clock starts when the proxy reads the request, not when the client has the
            // response: measured from the send, a slow response cannot shorten what is measured.
            long start = System.nanoTime();
            raw.send("GET /once HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
            assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(400);
        }
    }

    @Test
    void clientThatStopsReadingALargeResponseIsCutAndTheBackendReleased() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.socket().setReceiveBufferSize(16 * 1024);
            raw.send("GET /stream?bytes=1073741824 HTTP/1.1\r\nHost: h\r\n\r\n");
            // Never read: the proxy's buffers fill, it pauses the backend, and after idleMs of a
            // stalled client it gives up on it.
            await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().clientConnections() == 0);
            await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().backends().all().get(0).activeConnections() == 0);
        }
    }

    @Test
    void clientThatStopsSendingItsBodyGets408AndIsCut() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly part of it");
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(408);
            assertThat(answer.header("connection")).isEqualToIgnoringCase("close");
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        // The backend got an incomplete request: its connection is closed, not pooled.
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().backends().all().get(0).activeConnections() == 0);
    }

    @Test
    void slowBackendIsNotMistakenForAnIdleClient() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=1500 HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }
}
