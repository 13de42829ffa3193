package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** timeouts.requestHeadMs: a head must arrive whole within the deadline from its first byte. */
class RequestHeadDeadlineTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .config("\"timeouts\":{\"requestHeadMs\":500,\"idleMs\":5000}");

    @Test
    void clientDrippingHeaderBytesGets408AndIsClosed() throws Exception {
        long before = proxy.backend(0).requestCount();
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /slowloris HTTP/1.1\r\nHost: h\r\n");
            long start = System.nanoTime();
            try {
                for (int i = 0; i < 40; i++) {
                    Thread.sleep(100); // the dripping client is the point of this test
                    raw.send("X-Drip-" + i + ": x\r\n");
                }
            } catch (IOException closed) {
                // the proxy gave up on it: expected
            }
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(408);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
            assertThat((System.nanoTime() - start) / 1_000_000).isBetween(400L, 3900L);
        }
        assertThat(proxy.backend(0).requestCount()).isEqualTo(before);
    }

    @Test
    void waitingBetweenRequestsIsNotHeldAgainstTheNextHead() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            Thread.sleep(800); // an idle keep-alive client, longer than the head deadline
            raw.send("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }

    @Test
    void slowButTimelyHeadIsServed() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /timely HTTP/1.1\r\n");
            Thread.sleep(200); // slower than one packet, within the deadline
            raw.send("Host: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }
}
