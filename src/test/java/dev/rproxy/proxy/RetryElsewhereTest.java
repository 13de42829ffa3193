package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.LoopbackServer;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import java.io.IOException;
import java.net.Socket;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A backend that resets every new connection after reading the request head (as a process killed
 * under load does to the connections it had accepted): an idempotent request, or any request whose
 * whole body the proxy still holds and that is idempotent, is sent once more to the other backend;
 * a POST is not, since the dying backend may have acted on it.
 */
class RetryElsewhereTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicInteger resets = new AtomicInteger();
    private static final LoopbackServer RESETTING = resetting();

    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1)
            .extraBackend("http://127.0.0.1:" + RESETTING.port())
            // Off, so that the resetting backend stays in rotation: every other request meets it.
            .config("\"healthCheck\":{\"enabled\":false}");

    private static LoopbackServer resetting() {
        try {
            return new LoopbackServer("resetting", s -> {
                try (s) {
                    RawBackend.readHead(s.getInputStream());
                    resets.incrementAndGet();
                    s.setSoLinger(true, 0); // RST, not FIN
                } catch (IOException e) {
                    // the proxy went first
                }
            });
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    @AfterAll
    static void closeBackend() throws IOException {
        RESETTING.close();
    }

    @Test
    void idempotentRequestsResetBeforeAnyResponseAreAnsweredByTheOtherBackend() throws Exception {
        int before = resets.get();
        for (int i = 0; i < 6; i++) {
            // A new client connection each time, so a new backend connection too.
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("GET /g" + i + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(JSON.readTree(r.body()).get("backend").asText()).isEqualTo("backend1");
            }
        }
        assertThat(resets.get()).as("the resetting backend was tried").isGreaterThan(before);
    }

    @Test
    void putWhoseWholeBodyWasBufferedIsSentAgainElsewhere() throws Exception {
        int before = resets.get();
        for (int i = 0; i < 4; i++) {
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("PUT /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(200);
                assertThat(r.bodyText()).contains("\"body_bytes\":5");
            }
        }
        assertThat(resets.get()).isGreaterThan(before);
    }

    @Test
    void postResetBeforeAnyResponseIsNotSentTwice() throws Exception {
        int seen502 = 0;
        for (int i = 0; i < 4; i++) {
            try (RawHttp raw = new RawHttp(proxy.port())) {
                raw.send("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
                int status = raw.read().status();
                assertThat(status).isIn(200, 502);
                seen502 += status == 502 ? 1 : 0;
            }
        }
        assertThat(seen502).as("POSTs that met the resetting backend").isPositive();
    }
}
