package dev.rproxy.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import dev.rproxy.testbackend.TestBackend;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.uring.IoUring;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Each {@code server.transport} carries the same exchanges the same way on the wire: bodies both
 * ways with each framing, keep-alive, pipelining and a client that half-closes after its request.
 * A transport the machine cannot load is skipped.
 */
class TransportTest {
    private static TestBackend backend;

    @BeforeAll
    static void startBackend() throws Exception {
        backend = TestBackend.start("b1", "127.0.0.1", 0);
    }

    @AfterAll
    static void stopBackend() {
        if (backend != null) {
            backend.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nio", "epoll", "io_uring"})
    void exchangesAreRelayedAlike(String transport) throws Exception {
        assumeTrue(!transport.equals("epoll") || Epoll.isAvailable(), "epoll not available");
        assumeTrue(!transport.equals("io_uring") || IoUring.isAvailable(), "io_uring not available");
        try (ProxyServer proxy = ProxyExtension.startInFrontOf(backend.url(),
                "\"server\":{\"ioThreads\":1,\"transport\":\"" + transport + "\"}")) {
            assertThat(proxy.transportName()).isEqualTo(transport);
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /stream?bytes=1048576 HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response big = raw.read();
                assertThat(big.status()).isEqualTo(200);
                assertThat(big.body()).hasSize(1_048_576);

                raw.send("GET /stream?bytes=100000&chunked=1 HTTP/1.1\r\nHost: h\r\n\r\n");
                RawHttp.Response chunked = raw.read();
                assertThat(chunked.header("transfer-encoding")).isEqualToIgnoringCase("chunked");
                assertThat(chunked.body()).hasSize(100_000);

                byte[] body = "x".repeat(300_000).getBytes(StandardCharsets.US_ASCII);
                raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: " + body.length + "\r\n\r\n");
                raw.send(body);
                assertThat(raw.read().bodyText()).contains("\"body_bytes\":300000");

                raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                        + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
                assertThat(raw.read().bodyText()).contains("\"body_bytes\":11");

                raw.send("GET /stream?bytes=10 HTTP/1.1\r\nHost: h\r\n\r\nGET /stream?bytes=20 HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().body()).hasSize(10);
                assertThat(raw.read().body()).hasSize(20);
            }
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /stream?bytes=5000 HTTP/1.1\r\nHost: h\r\n\r\n");
                raw.socket().shutdownOutput(); // the answer still comes, then the connection ends
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.body()).hasSize(5000);
                assertThat(raw.isClosedByPeer(5000)).isTrue();
            }
        }
    }
}
