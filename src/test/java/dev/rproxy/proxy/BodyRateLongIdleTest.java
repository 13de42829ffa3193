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
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 20000\r\n\r\n");
            raw.send("y".repeat(10_000));
            Thread.sleep(100); // two reads: the first part is not the last
            raw.send("y".repeat(10_000));
            RawHttp.Response answer = raw.read();
            assertThat(answer.status()).isEqualTo(200);
            assertThat(answer.bodyText()).contains("\"body_bytes\":20000");
        }
    }
}
