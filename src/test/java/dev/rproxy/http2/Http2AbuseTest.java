package dev.rproxy.http2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.H2cClient;
import dev.rproxy.support.ProxyExtension;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2Headers;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * HTTP/2 abuse and its limits, sent for real over h2c: each is bounded, abuse ends the connection,
 * and an ordinary client on another connection is still served.
 */
class Http2AbuseTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .listen("{\"host\": \"127.0.0.1\", \"port\": 0, \"protocols\": [\"http/1.1\", \"h2c\"]}")
            .config("\"timeouts\": {\"idleMs\": 1000}");

    @Test
    void theProxyAdvertisesItsStreamLimitAndFieldSectionLimit() throws Exception {
        try (H2cClient client = new H2cClient(proxy.port())) {
            assertThat(client.send(H2cClient.get("/"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            Http2FrameCodec codec = client.connection().pipeline().get(Http2FrameCodec.class);
            assertThat(codec.connection().local().maxActiveStreams()).isEqualTo(Http2ServerConnection.MAX_CONCURRENT_STREAMS);
        }
    }

    @Test
    void aFieldSectionOverTheLimitIsAnswered431AndTheConnectionGoesOn() throws Exception {
        try (H2cClient client = new H2cClient(proxy.port())) {
            Http2Headers large = H2cClient.get("/large").add("x-large", "y".repeat(20_000));
            assertThat(client.send(large, null).get(10, TimeUnit.SECONDS).status()).isEqualTo(431);
            assertThat(client.send(H2cClient.get("/next"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        }
    }

    @Test
    void rapidResetEndsTheConnectionAndOthersAreStillServed() throws Exception {
        try (H2cClient abuser = new H2cClient(proxy.port())) {
            // CVE-2023-44487: streams opened and reset at once, far more than any client needs.
            // The client does not wait for the proxy between streams: the bound leaves the proxy time to
            // read the first 200 resets and close while the client goes on opening.
            int sent = 0;
            while (sent < 5000 && abuser.openAndReset(H2cClient.get("/delay?ms=2000&i=" + sent))) {
                sent++;
            }
            // Cut short within the burst (Netty's limit: 200 resets in 30 s), not by the idle timeout.
            assertThat(sent).as("streams opened before the proxy closed the connection").isLessThan(5000);
            assertThat(abuser.connection().closeFuture().await(10, TimeUnit.SECONDS)).as("closed by the proxy").isTrue();
        }
        try (H2cClient other = new H2cClient(proxy.port())) {
            assertThat(other.send(H2cClient.get("/ok"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
        }
    }

    @Test
    void aConnectionWithNoOpenStreamIsClosedAfterTheIdleTimeout() throws Exception {
        try (H2cClient client = new H2cClient(proxy.port())) {
            assertThat(client.send(H2cClient.get("/once"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            await().atMost(Duration.ofSeconds(10)).until(() -> !client.connection().isActive());
        }
    }
}
