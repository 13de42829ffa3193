package dev.rproxy.http;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
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
            // From before the first byte: the deadline runs from when the proxy reads it.
            long start = System.nanoTime();
            raw.send("GET /slowloris HTTP/1.1\r\nHost: h\r\n");
            try {
                for (int i = 0; i < 40; i++) {
                    Thread.sleep(100); // the dripping client is the point of this test
                    if (raw.socket().getInputStream().available() > 0) {
                        // Answered: stop dripping. Dripping on, the client would only notice once
                        // the proxy's lingering close ends, 2 s later.
                        break;
                    }
                    raw.send("X-Drip-" + i + ": x\r\n");
                }
            } catch (IOException closed) {
                // the proxy gave up on it: expected
            }
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(408);
            assertThat(r.header("connection")).isEqualToIgnoringCase("close");
            assertThat((System.nanoTime() - start) / 1_000_000).as("ms from the first byte to the 408, deadline 500").isBetween(400L, 2500L);
            assertThat(raw.isClosedByPeer(5000)).isTrue();
        }
        assertThat(proxy.backend(0).requestCount()).isEqualTo(before);
    }

    /**
     * Slowloris: many connections each dripping header bytes. Every one of them gets its 408 within
     * the deadline (plus scheduling slack), none reaches the backend, and an ordinary client is
     * served normally meanwhile.
     */
    @Test
    void swarmOfDrippingClientsIsCutWhileOthersAreServed() throws Exception {
        long before = proxy.backend(0).requestCount();
        int served = 0;
        List<RawHttp> swarm = new ArrayList<>();
        try {
            for (int i = 0; i < 200; i++) {
                swarm.add(new RawHttp(proxy.port()).send("GET /slowloris HTTP/1.1\r\nHost: h\r\n"));
            }
            long start = System.nanoTime();
            List<RawHttp> dripping = new ArrayList<>(swarm);
            for (int round = 0; round < 40 && !dripping.isEmpty(); round++) {
                for (int i = 0; i < 5; i++) {
                    assertThat(proxy.get("/served").statusCode()).isEqualTo(200);
                    served++;
                }
                Thread.sleep(100); // the dripping is the point of this test
                dripping.removeIf(raw -> {
                    try {
                        if (raw.socket().getInputStream().available() > 0) {
                            return true; // answered: stop dripping
                        }
                        raw.send("X-Drip: x\r\n");
                        return false;
                    } catch (IOException closed) {
                        return true;
                    }
                });
            }
            assertThat(dripping).as("connections still unanswered after 4 s").isEmpty();
            for (RawHttp raw : swarm) {
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(408);
                assertThat(raw.isClosedByPeer(5000)).isTrue();
            }
            assertThat((System.nanoTime() - start) / 1_000_000).isLessThan(3900L);
        } finally {
            for (RawHttp raw : swarm) {
                raw.close();
            }
        }
        assertThat(proxy.backend(0).requestCount() - before).isEqualTo(served);
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
    void eachHeadOnAKeptAliveConnectionHasItsOwnDeadline() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            Thread.sleep(300); // the client's pace is the point: the next head starts 300 ms later
            raw.send("GET /second HTTP/1.1\r\n");
            Thread.sleep(350); // past the first head's deadline, within this one's
            raw.send("Host: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);

            long start = System.nanoTime();
            raw.send("GET /third HTTP/1.1\r\nHost: h\r\n"); // never completed
            RawHttp.Response r = raw.read();
            assertThat(r.status()).isEqualTo(408);
            assertThat((System.nanoTime() - start) / 1_000_000).as("ms to the 408, deadline 500").isBetween(400L, 2500L);
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
