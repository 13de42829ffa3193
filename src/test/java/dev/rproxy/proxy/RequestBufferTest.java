package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * limits.requestBufferBytes: a request body is read (up to 64 KiB) before a backend connection is
 * taken, so clients that send their bodies slowly cannot hold the backend connections others need.
 */
class RequestBufferTest {
    /** Four backend connections in all: without the buffer, four slow uploads would take them. */
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .config("\"pool\":{\"maxConnectionsPerBackend\":4,\"acquireTimeoutMs\":1000},\"server\":{\"ioThreads\":1}");

    @Test
    void slowUploadsHoldNoBackendConnection() throws Exception {
        List<RawHttp> slow = new ArrayList<>();
        try {
            for (int i = 0; i < 40; i++) {
                RawHttp raw = new RawHttp(proxy.port());
                slow.add(raw);
                raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 8192\r\n\r\nsome of it");
            }
            long before = proxy.backend(0).requestCount();
            for (int i = 0; i < 20; i++) {
                HttpResponse<String> r = proxy.get("/normal");
                assertThat(r.statusCode()).isEqualTo(200);
            }
            // None of the slow uploads reached the backend: only the normal requests did.
            assertThat(proxy.backend(0).requestCount()).isEqualTo(before + 20);
            // Each finishes its body and is answered with all of it.
            for (RawHttp raw : slow) {
                raw.send("x".repeat(8192 - "some of it".length()));
            }
            for (RawHttp raw : slow) {
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).contains("\"body_bytes\":8192");
            }
        } finally {
            for (RawHttp raw : slow) {
                raw.close();
            }
        }
    }

    @Test
    void proxyAnswersTheContinueExpectationAndTheBackendGetsTheBodyWithoutIt() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(100);
            raw.send("body");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).contains("\"body_bytes\":4").doesNotContainIgnoringCase("100-continue");
        }
    }

    @Test
    void bodyLargerThanTheBufferStreamsOnAfterIt() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            int size = 1_000_000;
            raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
            for (int sent = 0; sent < size; sent += 10_000) {
                raw.send(Integer.toHexString(10_000) + "\r\n" + "z".repeat(10_000) + "\r\n");
            }
            raw.send("0\r\n\r\n");
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.bodyText()).contains("\"body_bytes\":" + size);
        }
    }
}
