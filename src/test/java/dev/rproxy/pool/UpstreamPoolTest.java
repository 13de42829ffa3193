package dev.rproxy.pool;

import static org.assertj.core.api.Assertions.assertThat;

import dev.rproxy.support.LoopbackServer;
import dev.rproxy.support.RawBackend;
import dev.rproxy.server.ProxyServer;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawHttp;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class UpstreamPoolTest {
    /** One event loop, one connection per backend, one waiting request, 300 ms to get a slot. */
    @RegisterExtension
    static final ProxyExtension tight = ProxyExtension.withBackends(1).config(
            "\"server\":{\"ioThreads\":1},\"pool\":{\"maxConnectionsPerBackend\":1,\"maxPendingAcquires\":1,"
                    + "\"acquireTimeoutMs\":300}");

    /** One event loop, one connection, waits of up to 4 s for it, 2 s response deadline. */
    @RegisterExtension
    static final ProxyExtension patient = ProxyExtension.withBackends(1).config(
            "\"server\":{\"ioThreads\":1},\"pool\":{\"maxConnectionsPerBackend\":1,\"acquireTimeoutMs\":4000},"
                    + "\"timeouts\":{\"responseMs\":2000}");

    @Test
    void exhaustedPoolAnswers503InsteadOfQueueingForever() throws Exception {
        try (RawHttp holder = new RawHttp(tight.port());
                RawHttp waiter = new RawHttp(tight.port());
                RawHttp third = new RawHttp(tight.port())) {
            holder.send("GET /delay?ms=2000 HTTP/1.1\r\nHost: h\r\n\r\n");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> tight.backend(0).requestCount() > 0);
            long start = System.nanoTime();
            waiter.send("GET /waits HTTP/1.1\r\nHost: h\r\n\r\n");
            // The single pending slot is taken by the waiter: a third request is refused at once.
            third.send("GET /refused HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(third.read().status()).isEqualTo(503);
            RawHttp.Response waited = waiter.read();
            assertThat(waited.status()).isEqualTo(503);
            assertThat(waited.bodyText()).contains("pool exhausted");
            assertThat((System.nanoTime() - start) / 1_000_000).isGreaterThanOrEqualTo(250);
            assertThat(holder.read().status()).isEqualTo(200);
        }
    }

    @Test
    void aRequestWaitingForAConnectionIsNotTimedOutByTheConnectionsEarlierExchange() throws Exception {
        // responseMs is 2 s here: a request that waits 1.5 s in the pool queue after a 1.5 s
        // exchange on the same client connection must get its slot, not a 504.
        try (RawHttp holder = new RawHttp(patient.port()); RawHttp client = new RawHttp(patient.port())) {
            client.send("GET /delay?ms=1500 HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(client.read().status()).isEqualTo(200);
            long before = patient.backend(0).requestCount();
            holder.send("GET /delay?ms=1500 HTTP/1.1\r\nHost: h\r\n\r\n");
            org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(5))
                    .until(() -> patient.backend(0).requestCount() > before);
            client.send("GET /after-wait HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(holder.read().status()).isEqualTo(200);
            assertThat(client.read().status()).isEqualTo(200);
        }
    }

    @Test
    void clientConnectionKeepsWorkingAfterARetryThatFailed() throws Exception {
        // The backend closes the reused connection on reading the request and accepts no new one,
        // so the retry is refused: 502, and the same client connection still reads the next request.
        try (ScriptedBackend backend = new ScriptedBackend(1, true); ProxyServer server = start(backend);
                RawHttp raw = new RawHttp(server.port())) {
            raw.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
            // The kept-alive connection stays open; the backend takes no new ones any more.
            backend.server.stopAccepting();
            raw.send("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(502);
            raw.send("GET /third HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(502);
        }
    }

    @Test
    void idleConnectionsTheBackendClosesAreDroppedAndReplaced() throws Exception {
        // The backend answers with a length and keep-alive, then closes each connection after one
        // response: every pooled connection dies while idle.
        try (ScriptedBackend backend = new ScriptedBackend(1); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(server.port())) {
                for (int i = 0; i < 20; i++) {
                    raw.send("GET /once/" + i + " HTTP/1.1\r\nHost: h\r\n\r\n");
                    RawHttp.Response r = raw.read();
                    assertThat(r.status()).as("request %d", i).isEqualTo(200);
                }
            }
            assertThat(backend.server.accepted()).isEqualTo(20);
        }
    }

    @Test
    void idempotentRequestOnAReusedConnectionThatDiesIsRetriedOnce() throws Exception {
        // Each connection answers its first request, then closes on reading the second without
        // answering: the proxy's reuse of a kept-alive connection fails before any response byte.
        try (ScriptedBackend backend = new ScriptedBackend(1, true); ProxyServer server = start(backend)) {
            try (RawHttp raw = new RawHttp(server.port())) {
                raw.send("GET /first HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().status()).isEqualTo(200);
                raw.send("GET /second HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().status()).isEqualTo(200);
                assertThat(backend.requestLines).containsExactly("GET /first HTTP/1.1", "GET /second HTTP/1.1",
                        "GET /second HTTP/1.1");

                raw.send("GET /warm HTTP/1.1\r\nHost: h\r\n\r\n"); // a new pooled connection, used once
                assertThat(raw.read().status()).isEqualTo(200);
                raw.send("POST /not-idempotent HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n");
                RawHttp.Response r = raw.read();
                assertThat(r.status()).isEqualTo(502);
                assertThat(backend.requestLines.stream().filter(l -> l.startsWith("POST"))).hasSize(1);
            }
        }
    }

    @Test
    void theConnectionOpenedForARetryBelongsToThePool() throws Exception {
        // Two answers per connection, then the third request is read and the connection closed.
        // The retry's new connection takes the pool's one slot and goes back to it afterwards:
        // the next request reuses it instead of opening a third connection.
        try (ScriptedBackend backend = new ScriptedBackend(2, true);
                ProxyServer server = ProxyExtension.startInFrontOf("http://127.0.0.1:" + backend.port(),
                        "\"server\":{\"ioThreads\":1},\"pool\":{\"maxConnectionsPerBackend\":1}");
                RawHttp raw = new RawHttp(server.port())) {
            for (String path : List.of("/first", "/second", "/retried", "/after")) {
                raw.send("GET " + path + " HTTP/1.1\r\nHost: h\r\n\r\n");
                assertThat(raw.read().status()).as(path).isEqualTo(200);
            }
            assertThat(backend.requestLines).containsExactly("GET /first HTTP/1.1", "GET /second HTTP/1.1",
                    "GET /retried HTTP/1.1", "GET /retried HTTP/1.1", "GET /after HTTP/1.1");
            assertThat(backend.server.accepted()).isEqualTo(2);
        }
    }

    private static ProxyServer start(ScriptedBackend backend) throws Exception {
        return ProxyExtension.startInFrontOf("http://127.0.0.1:" + backend.port(), "\"server\":{\"ioThreads\":1}");
    }

    /**
     * A backend that answers {@code answered} requests per connection with a kept-alive 200, then
     * either closes at once or (with {@code readNextFirst}) reads the next request head and closes
     * without answering.
     */
    private static final class ScriptedBackend implements AutoCloseable {
        final List<String> requestLines = new CopyOnWriteArrayList<>();
        final LoopbackServer server;
        final int answered;
        final boolean readNextFirst;

        ScriptedBackend(int answered) throws IOException {
            this(answered, false);
        }

        ScriptedBackend(int answered, boolean readNextFirst) throws IOException {
            this.answered = answered;
            this.readNextFirst = readNextFirst;
            this.server = new LoopbackServer("scripted-backend", this::serve);
        }

        int port() {
            return server.port();
        }

        private void serve(Socket s) {
            try (s) {
                InputStream in = s.getInputStream();
                for (int i = 0; i < answered; i++) {
                    String head = RawBackend.readHead(in);
                    if (head == null) {
                        return;
                    }
                    requestLines.add(head.substring(0, head.indexOf("\r\n")));
                    s.getOutputStream().write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                            .getBytes(StandardCharsets.ISO_8859_1));
                    s.getOutputStream().flush();
                }
                if (readNextFirst) {
                    String head = RawBackend.readHead(in);
                    if (head != null) {
                        requestLines.add(head.substring(0, head.indexOf("\r\n")));
                    }
                }
            } catch (IOException e) {
                // the proxy closed first
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
        }
    }
}
