package dev.rproxy.proxy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.rproxy.support.ProxyExtension;
import dev.rproxy.support.RawBackend;
import dev.rproxy.support.RawHttp;
import dev.rproxy.support.RefusingPort;
import dev.rproxy.testbackend.TestBackend;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What a client sees when a backend fails: refused, unreachable, too slow, dying before or during
 * its response; and what the proxy does when the client is the one that goes away. After every
 * failure the proxy holds no exchange open and still serves the next request.
 */
class FailureTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /**
     * Probes with a generous deadline: a backend that fails requests but answers its health check
     * stays in rotation, so what these tests see never depends on a probe's timing.
     */
    private static final String PATIENT_PROBES = "\"healthCheck\":{\"intervalMs\":200,\"timeoutMs\":5000}";

    /** One healthy backend, default deadlines. */
    @RegisterExtension
    static final ProxyExtension proxy = ProxyExtension.withBackends(1).config(PATIENT_PROBES);

    /** One healthy backend that must answer within 300 ms. */
    @RegisterExtension
    static final ProxyExtension impatient = ProxyExtension.withBackends(1)
            .config(PATIENT_PROBES)
            .config("\"timeouts\":{\"responseMs\":300}");

    /** Holds the refusing backend's port for the whole class. */
    private static final RefusingPort REFUSING_PORT = new RefusingPort();

    /**
     * A healthy backend beside one on a port nobody listens on. Health checks are off, so the
     * refusing backend is never taken out of rotation and round-robin alternates between the two.
     */
    @RegisterExtension
    static final ProxyExtension refusing = ProxyExtension.withBackends(1)
            .extraBackend("http://127.0.0.1:" + REFUSING_PORT.port())
            .config("\"healthCheck\":{\"enabled\":false}");

    /** The refusing backend alone: nowhere to retry. */
    @RegisterExtension
    static final ProxyExtension refusingAlone = ProxyExtension.withBackends(0)
            .extraBackend("http://127.0.0.1:" + REFUSING_PORT.port())
            .config("\"healthCheck\":{\"enabled\":false}");

    /**
     * A listening socket that never accepts: once its accept queue is full, the kernel drops
     * further SYNs, so a connection attempt neither succeeds nor is refused.
     */
    private static final ServerSocket BLACKHOLE = listenWithoutAccepting();
    private static final List<Socket> QUEUE_FILLERS = new ArrayList<>();

    /** A healthy backend beside the blackhole; connects must succeed within 300 ms. */
    @RegisterExtension
    static final ProxyExtension blackholed = ProxyExtension.withBackends(1)
            .extraBackend("http://127.0.0.1:" + BLACKHOLE.getLocalPort())
            .config("\"healthCheck\":{\"enabled\":false},\"timeouts\":{\"connectMs\":300}");

    /** The blackhole alone: nowhere to retry. */
    @RegisterExtension
    static final ProxyExtension blackholedAlone = ProxyExtension.withBackends(0)
            .extraBackend("http://127.0.0.1:" + BLACKHOLE.getLocalPort())
            .config("\"healthCheck\":{\"enabled\":false},\"timeouts\":{\"connectMs\":300}");

    /** A backend that answers with whatever bytes a test scripts, then closes the connection. */
    private static final RawBackend SCRIPTED = scriptedBackend();

    @RegisterExtension
    static final ProxyExtension scripted = ProxyExtension.withBackends(0).extraBackend(SCRIPTED.url())
            .config(PATIENT_PROBES);

    @AfterAll
    static void closeSockets() throws IOException {
        for (Socket s : QUEUE_FILLERS) {
            s.close();
        }
        BLACKHOLE.close();
        SCRIPTED.close();
        REFUSING_PORT.close();
    }

    @Test
    void refusedConnectionIsRetriedOnTheOtherBackend() throws Exception {
        // Round-robin sends every other request to the refusing backend; each is sent again to the
        // healthy one, as nginx's proxy_next_upstream does by default.
        List<RawHttp.Response> responses = sequentialGets(refusing, 4);

        assertThat(responses).extracting(RawHttp.Response::status).containsExactly(200, 200, 200, 200);
        for (RawHttp.Response r : responses) {
            assertThat(JSON.readTree(r.body()).get("backend").asText()).isEqualTo("backend1");
        }
        assertNoExchangeLeftAndStillServing(refusing);
    }

    @Test
    void refusedBackendWithNoOtherGets502WithShortTextBody() throws Exception {
        RawHttp.Response r = getOnNewConnection(refusingAlone, "/");

        assertThat(r.status()).isEqualTo(502);
        assertShortTextBody(r, "backend connection failed");
    }

    @Test
    void unreachableBackendIsRetriedOnTheOtherAfterTheConnectTimeout() throws Exception {
        assumeTrue(fillAcceptQueue(),
                "this kernel does not drop SYNs to a full accept queue; a connect timeout cannot be provoked");

        List<Long> elapsedMs = new ArrayList<>();
        List<RawHttp.Response> responses = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            long start = System.nanoTime();
            responses.add(getOnNewConnection(blackholed, "/"));
            elapsedMs.add((System.nanoTime() - start) / 1_000_000);
        }

        assertThat(responses).extracting(RawHttp.Response::status).containsExactly(200, 200, 200, 200);
        // Those sent to the blackhole first waited out the configured 300 ms connect timeout (the
        // retry's own choice moves round-robin on too, so which ones varies).
        assertThat(elapsedMs.stream().filter(ms -> ms >= 250).count()).isBetween(1L, 3L);
        assertNoExchangeLeftAndStillServing(blackholed);
    }

    @Test
    void unreachableBackendWithNoOtherGets504AfterConnectTimeout() throws Exception {
        assumeTrue(fillAcceptQueue(),
                "this kernel does not drop SYNs to a full accept queue; a connect timeout cannot be provoked");

        long start = System.nanoTime();
        RawHttp.Response r = getOnNewConnection(blackholedAlone, "/");
        long ms = (System.nanoTime() - start) / 1_000_000;

        assertThat(r.status()).isEqualTo(504);
        assertShortTextBody(r, "backend connect timed out");
        // The configured 300 ms, not the kernel's SYN retries (which would take minutes); the upper
        // bound leaves room for a loaded machine.
        assertThat(ms).isBetween(250L, 5000L);
    }

    @Test
    void slowBackendGets504AfterResponseTimeout() throws Exception {
        long start = System.nanoTime();
        RawHttp.Response r = getOnNewConnection(impatient, "/delay?ms=3000");
        long elapsedMs = (System.nanoTime() - start) / 1_000_000;

        assertThat(r.status()).isEqualTo(504);
        assertShortTextBody(r, "backend response timed out");
        // After the configured 300 ms, well before the backend's 3 s.
        assertThat(elapsedMs).isBetween(250L, 2900L);
        assertNoExchangeLeftAndStillServing(impatient);
    }

    @Test
    void backendDyingMidResponseClosesClientConnectionWithTruncatedBody() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /die?after=1000 HTTP/1.1\r\nHost: h\r\n\r\n");
            Received received = readUntilClosed(raw.socket(), 10_000);

            assertThat(received.timedOut).as("client connection closed by the proxy").isFalse();
            String head = received.head();
            assertThat(head).startsWith("HTTP/1.1 200 ");
            assertThat(head.toLowerCase()).contains("\r\ncontent-length: 1000000\r\n");
            byte[] body = received.body();
            assertThat(body.length).isLessThan(1_000_000).isLessThanOrEqualTo(1000);
            for (int i = 0; i < body.length; i++) {
                assertThat(body[i]).as("body byte %d", i).isEqualTo(TestBackend.patternByte(i));
            }
            // Exactly one response: no second status line appended to the truncated body.
            assertThat(new String(body, StandardCharsets.ISO_8859_1)).doesNotContain("HTTP/1.");
        }
        assertNoExchangeLeftAndStillServing(proxy);
    }

    @Test
    void backendStallingMidResponseClosesClientConnectionWithoutLastChunk() throws Exception {
        try (RawHttp raw = new RawHttp(impatient.port())) {
            // Head and a first piece at once, then 2 s of silence: far over the 300 ms deadline.
            raw.send("GET /drip?chunks=3&bytes=10&ms=2000 HTTP/1.1\r\nHost: h\r\n\r\n");
            long start = System.nanoTime();
            Received received = readUntilClosed(raw.socket(), 10_000);
            long elapsedMs = (System.nanoTime() - start) / 1_000_000;

            assertThat(received.timedOut).as("client connection closed by the proxy").isFalse();
            assertThat(received.head()).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
            assertThat(received.bodyText()).isNotEmpty().doesNotEndWith("0\r\n\r\n");
            // Cut at the deadline, not after the backend's second piece.
            assertThat(elapsedMs).isLessThan(1800);
        }
        assertNoExchangeLeftAndStillServing(impatient);
    }

    @Test
    void backendEndingChunkedResponseEarlyClosesClientConnectionWithoutLastChunk() throws Exception {
        SCRIPTED.respondWith("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                + "5\r\nhello\r\n");
        try (RawHttp raw = new RawHttp(scripted.port())) {
            raw.send("GET /chunked HTTP/1.1\r\nHost: h\r\n\r\n");
            Received received = readUntilClosed(raw.socket(), 10_000);

            assertThat(received.timedOut).as("client connection closed by the proxy").isFalse();
            assertThat(received.head()).startsWith("HTTP/1.1 200 ").containsIgnoringCase("transfer-encoding: chunked");
            assertThat(received.bodyText()).contains("hello").doesNotEndWith("0\r\n\r\n");
        }
        assertNoExchangeLeft(scripted);
    }

    @Test
    void backendSendingGarbageGets502() throws Exception {
        SCRIPTED.respondWith("this is not HTTP\r\n\r\n");
        RawHttp.Response r = getOnNewConnection(scripted, "/garbage");

        assertThat(r.status()).isEqualTo(502);
        assertShortTextBody(r, "backend sent an invalid response");
        SCRIPTED.respondWith("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        HttpResponse<String> after = scripted.get("/after-garbage");
        assertThat(after.statusCode()).isEqualTo(200);
        assertThat(after.body()).isEqualTo("ok");
        assertNoExchangeLeft(scripted);
    }

    @Test
    void backendClosingBeforeResponding502() throws Exception {
        RawHttp.Response r = getOnNewConnection(proxy, "/die");

        assertThat(r.status()).isEqualTo(502);
        assertShortTextBody(r, "backend closed the connection");
        assertNoExchangeLeftAndStillServing(proxy);
    }

    @ParameterizedTest(name = "client closes with {0}")
    @ValueSource(strings = {"FIN", "RST"})
    void clientLeavingMidDownloadEndsTheBackendExchange(String how) throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /drip?chunks=100&bytes=1000&ms=50 HTTP/1.1\r\nHost: h\r\n\r\n");
            InputStream in = raw.socket().getInputStream();
            byte[] first = new byte[256];
            assertThat(in.read(first)).isPositive();
            // The exchange is in flight: the backend has 5 s of response left to send.
            assertThat(activeConnections(proxy)).containsExactly(1);
            if (how.equals("RST")) {
                raw.socket().setSoLinger(true, 0);
            }
        }
        assertNoExchangeLeftAndStillServing(proxy);
    }

    @Test
    void clientResettingBeforeResponseHeadEndsTheBackendExchange() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=5000 HTTP/1.1\r\nHost: h\r\n\r\n");
            await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                    .until(() -> activeConnections(proxy).equals(List.of(1)));
            raw.socket().setSoLinger(true, 0);
        }
        // The exchange ends within 3 s, before the backend would answer (5 s): the proxy noticed
        // the reset on its own.
        assertNoExchangeLeftAndStillServing(proxy);
    }

    @Test
    void clientClosingBeforeResponseHeadIsServedAsHalfCloseThenReleased() throws Exception {
        try (RawHttp raw = new RawHttp(proxy.port())) {
            raw.send("GET /delay?ms=500 HTTP/1.1\r\nHost: h\r\n\r\n");
            await().atMost(Duration.ofSeconds(2)).pollInterval(Duration.ofMillis(20))
                    .until(() -> activeConnections(proxy).equals(List.of(1)));
        }
        // A FIN alone cannot be told from a client that only shut down its sending side, which the
        // proxy still answers; the exchange then ends with the backend's answer, not later.
        assertNoExchangeLeftAndStillServing(proxy);
    }

    // ---------------------------------------------------------------- helpers

    private static void assertShortTextBody(RawHttp.Response r, String message) {
        assertThat(r.header("content-type")).startsWith("text/plain");
        assertThat(r.header("content-length")).isEqualTo(String.valueOf(r.body().length));
        assertThat(r.bodyText().strip()).isEqualTo(message);
        assertThat(r.body().length).isLessThan(200);
    }

    /**
     * No exchange is left open on any backend (within 3 s), and normal requests through the proxy
     * work: with two backends in rotation, one of two requests reaches the healthy one.
     */
    private static void assertNoExchangeLeftAndStillServing(ProxyExtension p) throws Exception {
        assertNoExchangeLeft(p);
        int ok = 0;
        for (int i = 0; i < 2; i++) {
            HttpResponse<String> r = p.get("/after-failure");
            ok += r.statusCode() == 200 && r.body().contains("\"backend\":\"backend1\"") ? 1 : 0;
        }
        assertThat(ok).isPositive();
        try (RawHttp raw = new RawHttp(p.port())) {
            raw.send("GET /_health HTTP/1.1\r\nHost: h\r\n\r\n");
            assertThat(raw.read().status()).isEqualTo(200);
        }
    }

    private static void assertNoExchangeLeft(ProxyExtension p) {
        await().atMost(Duration.ofSeconds(3)).pollInterval(Duration.ofMillis(20))
                .until(() -> activeConnections(p).stream().allMatch(n -> n == 0));
    }

    /** activeConnections of every backend, from the proxy's own /_health. */
    private static List<Integer> activeConnections(ProxyExtension p) {
        try {
            JsonNode health = JSON.readTree(p.get("/_health").body());
            List<Integer> counts = new ArrayList<>();
            health.get("backends").forEach(b -> counts.add(b.get("activeConnections").asInt()));
            return counts;
        } catch (Exception e) {
            throw new IllegalStateException("proxy /_health failed", e);
        }
    }

    private static List<RawHttp.Response> sequentialGets(ProxyExtension p, int n) throws IOException {
        List<RawHttp.Response> responses = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            responses.add(getOnNewConnection(p, "/"));
        }
        return responses;
    }

    private static RawHttp.Response getOnNewConnection(ProxyExtension p, String target) throws IOException {
        try (RawHttp raw = new RawHttp(p.port())) {
            raw.send("GET " + target + " HTTP/1.1\r\nHost: h\r\n\r\n");
            return raw.read();
        }
    }

    /** Everything received until the peer closes (EOF or reset) or {@code timeoutMs} passes. */
    private record Received(byte[] bytes, boolean timedOut) {
        String head() {
            String all = new String(bytes, StandardCharsets.ISO_8859_1);
            int end = all.indexOf("\r\n\r\n");
            return end < 0 ? all : all.substring(0, end + 4);
        }

        byte[] body() {
            int start = head().length();
            return Arrays.copyOfRange(bytes, start, bytes.length);
        }

        String bodyText() {
            return new String(body(), StandardCharsets.ISO_8859_1);
        }
    }

    private static Received readUntilClosed(Socket socket, int timeoutMs) throws IOException {
        socket.setSoTimeout(timeoutMs);
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        try {
            InputStream in = socket.getInputStream();
            for (int n; (n = in.read(buf)) != -1; ) {
                all.write(buf, 0, n);
            }
        } catch (SocketTimeoutException e) {
            return new Received(all.toByteArray(), true);
        } catch (SocketException e) {
            // reset by the proxy: closed as well
        }
        return new Received(all.toByteArray(), false);
    }

    private static RawBackend scriptedBackend() {
        try {
            return new RawBackend("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static ServerSocket listenWithoutAccepting() {
        try {
            return new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Connects to the blackhole until an attempt hangs; from then on its accept queue is full.
     * Returns false if no attempt hung (a kernel that refuses or queues instead).
     */
    private static synchronized boolean fillAcceptQueue() throws IOException {
        for (int i = 0; i < 8; i++) {
            Socket s = new Socket();
            try {
                s.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), BLACKHOLE.getLocalPort()), 200);
                QUEUE_FILLERS.add(s);
            } catch (SocketTimeoutException e) {
                s.close();
                return true;
            }
        }
        return false;
    }
}
