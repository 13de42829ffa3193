package dev.rproxy.http2;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.support.H2cClient;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * HTTP/2 connections and the connection cap: one with no open stream is one of the idle
 * connections closed to make room, as an HTTP/1 connection between requests is, and one with a
 * stream in progress is not; one the client closes stops counting at once.
 */
class Http2ConnectionCapTest {
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .listen("{\"host\": \"127.0.0.1\", \"port\": 0, \"protocols\": [\"http/1.1\", \"h2c\"]}")
            .config("\"limits\": {\"maxConnections\": 3}, \"timeouts\": {\"idleMs\": 60000}");

    @Test
    void aConnectionTheClientClosesIsClosedAtOnceNotAfterTheIdleTimeout() throws Exception {
        try (H2cClient client = new H2cClient(proxy.port())) {
            assertThat(client.send(H2cClient.get("/once"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            assertThat(proxy.server().clientConnections()).isEqualTo(1);
        }
        // The client's close is a half-close to the proxy (client channels allow it, for HTTP/1):
        // an HTTP/2 connection ends with it, well within idleMs (60 s).
        await().atMost(Duration.ofSeconds(5)).until(() -> proxy.server().clientConnections() == 0);
    }

    @Test
    void anIdleHttp2ConnectionMakesRoomAndABusyOneDoesNot() throws Exception {
        try (H2cClient idle = new H2cClient(proxy.port());
                H2cClient busy = new H2cClient(proxy.port())) {
            assertThat(idle.send(H2cClient.get("/first"), null).get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            // A stream that stays open for a while: this connection has something to answer.
            var slow = busy.send(H2cClient.get("/delay?ms=3000"), null);
            try (RawHttp plain = new RawHttp(proxy.port())) {
                plain.send("GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(plain.read().status()).isEqualTo(200);
                // At the cap: the connection idle longest (the first HTTP/2 one) is closed for this one.
                try (RawHttp extra = new RawHttp(proxy.port())) {
                    extra.send("GET /fourth HTTP/1.1\r\nHost: h\r\n\r\n");
                    assertThat(extra.read().status()).isEqualTo(200);
                }
                assertThat(idle.connection().closeFuture().await(5, TimeUnit.SECONDS)).as("idle h2 connection closed").isTrue();
                assertThat(busy.connection().isActive()).as("busy h2 connection kept").isTrue();
                assertThat(slow.get(10, TimeUnit.SECONDS).status()).isEqualTo(200);
            }
        }
        await().atMost(Duration.ofSeconds(10)).until(() -> proxy.server().clientConnections() == 0);
    }
}
