package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * limits.minBodyRate: a body sent a few bytes at a time, each time within the idle timeout, is
 * refused once it falls {@code idleMs} behind the rate; an upload at an ordinary pace is not.
 */
class BodyRateTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .config("\"timeouts\":{\"idleMs\":1000},\"limits\":{\"minBodyRate\":1000}");

    @Test
    void bodyTricklingUnderTheRateGets408AndTheBackendConnectionIsClosed() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n");
            long start = System.nanoTime();
            try {
                // 250 bytes/s, a send every 200 ms: never idle for 1 s, far under 1000 bytes/s.
                for (int i = 0; i < 50; i++) {
                    raw.send("x".repeat(50));
                    Thread.sleep(200); // the trickle is the point of this test
                    if (raw.socket().getInputStream().available() > 0) {
                        break;
                    }
                }
            } catch (IOException closed) {
                // the proxy gave up on it
            }
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(408);
            assertThat(answer.header("connection")).isEqualToIgnoringCase("close");
            // Refused once 1 s (idleMs) behind the rate: after about 1.3 s, well before the 10 s
            // the trickle would take.
            assertThat((System.nanoTime() - start) / 1_000_000).isBetween(1000L, 6000L);
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().backends().all().get(0).activeConnections() == 0);
    }

    @Test
    void uploadAtAnOrdinaryPaceIsNotRefused() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n");
            // 100 kB/s in 10 kB pieces, for 2 s: longer than idleMs, far over the rate.
            for (int i = 0; i < 20; i++) {
                raw.send("y".repeat(10_000));
                Thread.sleep(100); // the pace is the point: the upload lasts longer than idleMs
            }
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.bodyText()).contains("\"body_bytes\":200000");
        }
    }
}
