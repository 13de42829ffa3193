package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * limits.minBodyRate with an idle timeout so long it means "never" (Long.MAX_VALUE ms): the rate's
 * allowance does not overflow into a negative one that refuses every body.
 */
class BodyRateLongIdleTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .config("\"timeouts\":{\"idleMs\":9223372036854775807},\"limits\":{\"minBodyRate\":1000}");

    @Test
    void uploadIsNotRefusedWhenTheIdleTimeoutIsHuge() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            // More than a read buffer (64 KiB) holds: the body reaches the relay in several parts, and
            // every part but the last is checked against the rate.
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n" + "y".repeat(200_000));
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.bodyText()).contains("\"body_bytes\":200000");
        }
    }
}
